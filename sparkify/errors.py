"""Errors that say what the user asked for wrongly, as opposed to what went wrong while running."""


class UsageError(ValueError):
    """The command asks for something that cannot be (an unknown table, a version out of range, bad
    SQL): the command line exits 2 with the message, which says what to do instead."""
