"""What every stage shares and no framework owns: settings (``cardpulse.settings``) and the
user-facing error type (``cardpulse.errors``). Imports only the standard library, so
``forecasting/`` can use it without importing ``pipelines/`` or ``dashboard/``."""
