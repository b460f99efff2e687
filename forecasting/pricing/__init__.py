"""Dynamic pricing: elasticity per SKU x region, guarded recommendations, what-if.

Plain Python over DataFrames (no Dagster, no Streamlit). The asset in
``pipelines/assets/pricing.py`` reads the marts and calls:

- :func:`estimate_elasticities` -> ``analytics.price_elasticities``
- :func:`pricing_items` + :func:`recommend_prices` -> ``analytics.price_recommendations``
- :func:`what_if_for_row` for the dashboard's what-if control.
"""

from forecasting.pricing.elasticity import estimate_elasticities
from forecasting.pricing.guardrails import (
    Guardrails,
    PriceSituation,
    PricingConfig,
    guardrail_violations,
    load_pricing_config,
)
from forecasting.pricing.inputs import pricing_items
from forecasting.pricing.recommend import best_price, recommend_prices
from forecasting.pricing.whatif import WhatIf, what_if, what_if_for_row

__all__ = [
    "Guardrails",
    "PriceSituation",
    "PricingConfig",
    "WhatIf",
    "best_price",
    "estimate_elasticities",
    "guardrail_violations",
    "load_pricing_config",
    "pricing_items",
    "recommend_prices",
    "what_if",
    "what_if_for_row",
]
