"""A simulated 卡盟 / 发卡 platform: realistic export files plus the ground truth behind them.

Entry point: `generate(out_dir, scale="small", seed=0, dirty=False, fmt="csv",
end_date=date(2026, 10, 31)) -> GenerationSummary`. See docs/simulator.md.
"""

from pipelines.simulator.generator import (
    DEFAULT_END_DATE,
    SCALES,
    TARGET_ORDERS,
    TRUTH_DIR,
    GenerationSummary,
    generate,
)

__all__ = [
    "DEFAULT_END_DATE",
    "SCALES",
    "TARGET_ORDERS",
    "TRUTH_DIR",
    "GenerationSummary",
    "generate",
]
