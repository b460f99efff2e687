"""Which engine runs each stage (docs/scale.md): ``load_settings().engine``.

The ``[engine]`` section's types and checks live with every other section
(``cardpulse.engine_settings``, loaded by ``cardpulse.settings.load_settings``); this module
keeps the names the pipelines import.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from cardpulse.engine_settings import DBT_TARGETS, DEFAULT_SPARK_CONF, EngineSettings
from cardpulse.settings import Home, home, load_settings

__all__ = ["DBT_TARGETS", "DEFAULT_SPARK_CONF", "EngineSettings", "load_engine_settings"]


def load_engine_settings(
    root: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> EngineSettings:
    """``load_settings().engine`` of the installation at ``root`` (default ``$CARDPULSE_HOME``):
    the whole cardpulse.toml is checked, a bad key anywhere is a ``SettingsError``."""
    installation = Home(Path(root).expanduser().resolve()) if root else home()
    return load_settings(installation, environ=environ).engine
