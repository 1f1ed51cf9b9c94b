"""Errors a user can act on: shown as one readable line, never a traceback."""


class UserError(Exception):
    """Bad input or an impossible request; the message says what and, ideally, how to fix it.

    ``where`` (model | data | technique | training | output) and ``field`` (a dotted config
    path) say which part of the setup is wrong, set where the problem is found, so the studio
    can show it on the right page whatever language the message is in."""

    def __init__(self, message: object = "", *, where: str | None = None, field: str | None = None):
        super().__init__(message)
        self.where = where
        self.field = field


class Cancelled(Exception):
    """Raised inside the loop when the cancellation token is set."""
