"""The Textual app: Runs -> Job -> Results -> Case / Stats (see DESIGN.md, "TUI").

Modules here import nothing heavy at import time: polars, the statistics, the runner and
the image renderer are imported inside workers or when their screen opens.
"""
