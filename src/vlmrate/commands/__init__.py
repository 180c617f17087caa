"""One module per ``vlmrate`` sub-command (cli.py imports each only when it runs):
run, demo, check, stats, compare, export, review, import, merge, tui.
option_types.py holds the argument types that check ranges while parsing.
"""
