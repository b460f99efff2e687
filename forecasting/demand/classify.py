"""Demand classes after Syntetos and Boylan (2005): smooth, erratic, intermittent, lumpy.

Two numbers of a daily series' recent observed days decide the class:

- ADI, the average demand interval: observed days / days with a sale (1 = sells daily);
- CV², the squared coefficient of variation of the non-zero sizes (how much a sale varies).

With the published cut-offs ADI 1.32 and CV² 0.49: smooth (ADI < 1.32, CV² < 0.49), erratic
(ADI < 1.32, CV² >= 0.49), intermittent (ADI >= 1.32, CV² < 0.49), lumpy (both above). Each
class gets its own candidate models (``CLASS_CANDIDATES`` in ``selection.py``) and its own
interval calibration.
"""

from __future__ import annotations

import numpy as np

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
CLASSES = ("smooth", "erratic", "intermittent", "lumpy")
CLASS_DAYS = 182  # classify on the last half-year: what the SKU is now, not at launch


def adi_cv2(y) -> tuple[float, float]:
    """ADI and CV² of the observed (finite) days of ``y``; (inf, 0) when nothing sold."""
    y = np.asarray(y, dtype=float)
    y = y[np.isfinite(y)]
    sizes = y[y > 0]
    if len(sizes) == 0:
        return float("inf"), 0.0
    adi = len(y) / len(sizes)
    cv2 = float(sizes.std() / sizes.mean()) ** 2 if len(sizes) > 1 else 0.0
    return float(adi), cv2


def demand_class(y, days: int = CLASS_DAYS) -> str:
    """The Syntetos-Boylan class of the last ``days`` days of ``y`` (NaN = censored, skipped)."""
    adi, cv2 = adi_cv2(np.asarray(y, dtype=float)[-days:])
    frequent = adi < ADI_CUTOFF
    steady = cv2 < CV2_CUTOFF
    if frequent:
        return "smooth" if steady else "erratic"
    return "intermittent" if steady else "lumpy"
