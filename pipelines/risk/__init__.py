"""Risk signals (风控): thresholds from ``[risk]`` in cardpulse.toml, rules over the marts."""
