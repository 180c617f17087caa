"""The run folder on disk: runs/<name>/ with manifest.json, ratings.jsonl,
human.parquet, review.json, run.log and .progress.json.

settings.py holds a run's settings (RunConfig, what the manifest records, run names);
store.py reads and writes the folder (append-only ratings, lock, heartbeat, LoadedRun);
shapes.py checks the JSON shapes on reading; review.py reads and writes review.json;
files.py writes atomically; merge.py joins shards into one run; importer.py turns
ratings made elsewhere into a run folder.
Imports ``inputs`` and ``engines`` (for the engines' option types) at most.
"""
