"""Errors that reach the user as one line on stderr (exit status 2), never as a traceback."""


class UsageError(Exception):
    """Bad input from the user: a missing file, an unknown codec, an impossible target."""
