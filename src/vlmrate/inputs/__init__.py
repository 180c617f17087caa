"""What comes in: a dataset folder of images with an optional human sheet, and a study.

dataset.py finds the images and matches the human sheet (sheets.py reads CSV/TSV/XLSX
robustly); images.py loads one image for the model or says why it cannot be used;
study.py reads a prompt set (prompts/<name>/, study.toml): aspects, prompt texts, scale,
repeats and sampling; demo_data.py builds the synthetic demo dataset.
Imports nothing of vlmrate but ``errors``.
"""
