"""Running a study: from the planned (image, aspect, repeat) jobs to appended records.

runner.py plans the jobs, streams each image's requests through an engine, parses the
answers (parse.py) and appends one record per answer to the run folder; progress.py is
what a run reports (counts, phases, clocks), progress_lines.py prints it as plain lines
for logs; watch.py follows a run of another process from its folder.
Imports ``inputs``, ``engines`` and ``runfolder``.
"""
