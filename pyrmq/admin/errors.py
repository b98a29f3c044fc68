"""The admin API's one error type (kept import-light: the CLI's output module uses it)."""


class AdminError(Exception):
    """An admin call failed; the message is one line for a human."""
