"""The one exception type the CLI turns into a message and an exit code."""


class ChatfunnelError(Exception):
    """A failure explained for a human. `str()` is the whole message."""

    exit_code = 1
