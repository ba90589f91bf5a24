"""The base of every error the command reports as a usage or configuration error (exit 2).

A module of its own, importing nothing, so that the command can catch them all without
importing the modules that raise them (git, baseline and pytest support load only when
their options are used).
"""


class CheckError(Exception):
    """An input `netra check` cannot work with; the message says which and how to fix it."""
