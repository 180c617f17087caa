"""The terminal UI (Textual): app.py with one stylesheet, screens/ (runs, new run, job,
watch, results, case, stats, compare, help), widgets/, data.py (loading a run for the
screens), jobs.py (a run in a worker thread), filter_expr.py (the Results filter).
The screens call ``stats``, ``export`` and ``runfolder``; they compute nothing of their own.
"""
