"""The one exception type that reaches the user as a single line, never a traceback."""


class CardPulseError(Exception):
    """A user-facing failure: bad flag, missing file, unreadable format, locked warehouse,
    a bad key in cardpulse.toml."""
