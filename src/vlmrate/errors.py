"""The one exception type for mistakes a user can make (bad paths, sheets, options).

The CLI prints its message as one line and exits 2; the TUI shows it as a notification.
"""


class UserError(Exception):
    """A problem the user can fix; the message is one clear line."""
