"""The `quantutor` command line: the one composition root that knows every front end.

Front ends (bot/, terminal/) and heavy parts of the core are imported inside the
commands that use them, so that `quantutor --help` or `health` never loads torch.
"""
