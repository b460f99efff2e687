"""The one exception type that reaches the user as a single line (lives in ``cardpulse.errors``,
so ``forecasting/`` can raise it without importing ``pipelines/``)."""

from cardpulse.errors import CardPulseError

__all__ = ["CardPulseError"]
