"""Where CardPulse keeps its state: all of it under ``$CARDPULSE_HOME`` (default ``./data``).

The paths live in ``cardpulse.settings`` beside every other setting (``load_settings().paths``);
this module keeps the names the pipelines import."""

from __future__ import annotations

from cardpulse.settings import BUSINESS_TZ, Home, home

__all__ = ["BUSINESS_TZ", "Home", "home"]
