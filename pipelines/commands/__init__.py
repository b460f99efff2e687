"""Subcommands of ``cardpulse`` that orchestrate several stages."""
