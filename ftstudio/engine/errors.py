"""Errors a user can act on: shown as one readable line, never a traceback."""


class UserError(Exception):
    """Bad input or an impossible request; the message says what and, ideally, how to fix it."""


class Cancelled(Exception):
    """Raised inside the loop when the cancellation token is set."""
