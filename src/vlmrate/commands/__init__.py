"""One module per sub-command, each with main(args) -> exit code."""
