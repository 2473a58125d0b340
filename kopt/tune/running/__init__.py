"""Running a study: open, resume or join it, the worker loop and the worker processes, one trial,
and the terminal output while it runs."""
