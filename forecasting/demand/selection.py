"""Which model each series uses, chosen so that a few folds of one series cannot overfit it.

Every series is backtested with its demand class's candidates (``CLASS_CANDIDATES``) and
the combinations of them (``BLENDS``: the median of the members' forecasts, scored like any
candidate). Three rules then name a model for a series:

- ``series``: the series' own lowest backtest error (a combination stays unless another
  model beats it by more than 5%);
- ``class``: the model with the lowest error pooled over the *other* series of the same
  class (relative to ETS on the same series, so big and small series count alike);
- ``combo``: always the median of ETS, Theta and CES (``COMBO``).

Which rule a class uses is itself decided on held-back data (``choose_rules``): each rule's
error counts only data the choice did not see (the ``series`` rule picks on the other folds
and is scored on the held-out one; the ``class`` rule picks on the other series), pooled
over the class's series; the lowest total wins.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from forecasting.demand import metrics
from forecasting.demand.classify import CLASSES

COMBO = "median_ets_theta_ces"
# Combinations tried as candidates of their own: name -> members (median of their forecasts;
# the median of two is their mean).
BLENDS: Mapping[str, tuple[str, ...]] = {
    COMBO: ("ets", "auto_theta", "auto_ces"),
    "median_prophet_ets_theta_ces": ("prophet", "ets", "auto_theta", "auto_ces"),
    "blend_prophet_ets": ("prophet", "ets"),
    "median_intermittent": ("croston_sba", "tsb", "adida", "imapa"),
}
_FREQUENT = ["recent_mean", "seasonal_naive", "ets", "auto_theta", "auto_ces", "prophet",
             COMBO, "median_prophet_ets_theta_ces", "blend_prophet_ets"]  # fmt: skip
_SPARSE = ["recent_mean", "croston_sba", "tsb", "adida", "imapa", "ets", "auto_theta",
           "auto_ces", "prophet", COMBO, "median_intermittent", "median_prophet_ets_theta_ces",
           "blend_prophet_ets"]  # fmt: skip
# Per Syntetos-Boylan class, the candidates in tie-break order (simplest first). Croston's
# family is for sparse sellers only; repeating last week is no forecast for a sparse one.
CLASS_CANDIDATES: Mapping[str, list[str]] = {
    "smooth": _FREQUENT,
    "erratic": _FREQUENT,
    "intermittent": _SPARSE,
    "lumpy": _SPARSE,
}
REFERENCE = "ets"  # present for every backtested series: the yardstick of the pooled rule
RULES = ("combo", "class", "series")  # tie-break order: the least data-hungry first
MIN_CLASS_SERIES = 3


def members_of(models: Sequence[str]) -> list[str]:
    """The single models that ``models`` (candidates and combinations) need, in order."""
    needed: list[str] = []
    for model in models:
        for member in BLENDS.get(model, (model,)):
            if member not in needed:
                needed.append(member)
    return needed


def add_blends(folds: pd.DataFrame, blends: Mapping[str, tuple[str, ...]] = BLENDS) -> pd.DataFrame:
    """Append each combination whose members were all backtested: the members' median."""
    have = set(folds["model"])
    parts = [folds]
    for name, members in blends.items():
        if not set(members) <= have:
            continue
        rows = folds[folds["model"].isin(members)]
        combined = rows.groupby(["fold", "step"], sort=True).agg(
            ds=("ds", "first"), y=("y", "first"), yhat=("yhat", "median")
        )
        parts.append(combined.reset_index().assign(model=name)[folds.columns])
    return pd.concat(parts, ignore_index=True)


def combine(name: str, forecasts: Mapping[str, np.ndarray]) -> np.ndarray:
    """A candidate's forecast from its members' forecasts (itself when it is a single model)."""
    members = BLENDS.get(name, (name,))
    return np.median([forecasts[m] for m in members], axis=0)


def score_candidates(folds: pd.DataFrame, scale: float, order: list[str]) -> pd.DataFrame:
    """Per model, pooled over folds: ``wape``, ``mase``, ``bias``, ``mae``, ``days`` scored.

    Rows come in ``order`` (simplest first), which also breaks ties in selection.
    """
    rows = []
    for model in order:
        part = folds[folds["model"] == model]
        if part.empty:
            continue
        y, yhat = part["y"].to_numpy(), part["yhat"].to_numpy()
        observed = np.isfinite(y)
        mae = float(np.abs(y[observed] - yhat[observed]).mean()) if observed.any() else np.nan
        rows.append(
            {
                "model": model,
                "wape": metrics.wape(y, yhat),
                "mase": metrics.mase(y, yhat, scale),
                "bias": metrics.bias(y, yhat),
                "mae": mae,
                "days": int(observed.sum()),
            }
        )
    return pd.DataFrame(rows, columns=["model", "wape", "mase", "bias", "mae", "days"])


PREFERENCE_MARGIN = 0.05


def _lowest(errors: Mapping[str, float], order: Sequence[str]) -> str:
    """The lowest error in ``order``; within 0.1% counts as a tie (the earlier wins); a
    combination stays unless a single model beats it by more than 5%."""
    values = {m: errors[m] for m in order if m in errors and np.isfinite(errors[m])}
    if not values:
        return next((m for m in order if m in errors), order[0])
    best = min(values.values())
    chosen = next(m for m in order if m in values and values[m] <= best * 1.001 + 1e-12)
    if chosen not in BLENDS:
        combos = [m for m in order if m in values and m in BLENDS]
        if combos:
            combo = min(combos, key=lambda m: values[m])
            if best >= values[combo] * (1 - PREFERENCE_MARGIN):
                return combo
    return chosen


def select_model(scores: pd.DataFrame) -> str:
    """A series' own choice (rule ``series``) from its ``score_candidates`` table."""
    if scores.empty:
        return "recent_mean"
    errors = dict(zip(scores["model"], scores["mae"].astype(float), strict=True))
    return _lowest(errors, list(scores["model"]))


def fold_errors(folds: pd.DataFrame) -> pd.DataFrame:
    """Sum of absolute errors and of actuals per model and fold (observed days only)."""
    observed = folds[np.isfinite(folds["y"].to_numpy(dtype=float))]
    frame = pd.DataFrame(
        {
            "model": observed["model"].to_numpy(),
            "fold": observed["fold"].to_numpy(),
            "abs_error": np.abs(observed["y"].to_numpy(float) - observed["yhat"].to_numpy(float)),
        }
    )
    return frame.groupby(["model", "fold"], as_index=False, sort=True)["abs_error"].sum()


def choose_rules(
    errors: pd.DataFrame, classes: Mapping[str, str]
) -> tuple[dict[str, tuple[str, str]], pd.DataFrame]:
    """Each series' model and the rule that named it, the rule chosen per class.

    ``errors``: ``unique_id``, ``model``, ``fold``, ``abs_error`` (``fold_errors`` of every
    backtested series); ``classes``: unique_id -> demand class.

    1. Per series and rule, the pick and its held-back absolute error;
    2. per class, the rule with the lowest total held-back error over the class's series
       (a class with fewer than ``MIN_CLASS_SERIES`` series uses the rule that wins over
       all series); 3. the series' pick under its class's rule.

    Returns ``{unique_id: (model, rule)}`` and a table per class and rule of the held-back
    error (``held_back_error``), the number of series and ``is_chosen``.
    """
    table = errors.pivot_table(
        index=["unique_id", "fold"], columns="model", values="abs_error", aggfunc="sum"
    )
    totals = table.groupby(level="unique_id").sum(min_count=1)
    # Per class and model, summed over the series that have both it and the reference:
    # (its error, the reference's error, number of series).
    pooled: dict[str, dict[str, tuple[float, float, int]]] = {}
    for cls in set(classes.values()):
        members = totals[totals.index.map(lambda u, c=cls: classes.get(u) == c)]
        pooled[cls] = {}
        for model in members.columns:
            if REFERENCE not in members.columns:
                break
            paired = members[model].notna() & members[REFERENCE].notna()
            pooled[cls][model] = (
                float(members.loc[paired, model].sum()),
                float(members.loc[paired, REFERENCE].sum()),
                int(paired.sum()),
            )
    picks: dict[str, dict[str, str]] = {rule: {} for rule in RULES}
    held_back: dict[str, dict[str, float]] = {rule: {} for rule in RULES}
    for uid, row in totals.iterrows():
        cls = classes[uid]
        order = [m for m in CLASS_CANDIDATES[cls] if m in row.index and np.isfinite(row[m])]
        if not order:
            continue
        # combo: fixed.
        combo = COMBO if COMBO in order else order[0]
        picks["combo"][uid] = combo
        held_back["combo"][uid] = float(row[combo])
        # series: its own folds; held back = each fold judged by a pick on the others.
        picks["series"][uid] = _lowest(row[order].to_dict(), order)
        own = table.loc[uid][order]
        if len(own) >= 2:
            held_back["series"][uid] = float(
                sum(
                    own.loc[fold, _lowest(own.drop(index=fold).sum().to_dict(), order)]
                    for fold in own.index
                )
            )
        # class: the other series of the class, each model relative to the reference.
        if REFERENCE in totals.columns:
            ratios = {}
            for model in order:
                paired = np.isfinite(row[model]) and np.isfinite(row[REFERENCE])
                count = pooled[cls][model][2] - paired  # the class's series without this one
                error = pooled[cls][model][0] - (row[model] if paired else 0.0)
                reference = pooled[cls][model][1] - (row[REFERENCE] if paired else 0.0)
                if count > 0 and reference > 0:
                    ratios[model] = float(error / reference)
            if ratios:
                pick = _lowest(ratios, order)
                picks["class"][uid] = pick
                held_back["class"][uid] = float(row[pick])
        if uid not in picks["class"]:
            picks["class"][uid] = picks["series"][uid]
            held_back["class"][uid] = held_back["series"].get(uid, float(row[picks["series"][uid]]))

    def totals_for(uids) -> tuple[dict[str, float], int]:
        # Only series every rule could be judged on, so the rules are compared on equal days.
        judged = [u for u in uids if all(u in held_back[r] for r in RULES)]
        return {r: sum(held_back[r][u] for u in judged) for r in RULES}, len(judged)

    overall, _ = totals_for(list(picks["combo"]))
    overall_rule = _first_lowest(overall)
    summary, chosen_rule = [], {}
    for cls in CLASSES:
        members = [u for u in picks["combo"] if classes[u] == cls]
        if not members:
            continue
        sums, judged = totals_for(members)
        rule = _first_lowest(sums) if judged >= MIN_CLASS_SERIES else overall_rule
        chosen_rule[cls] = rule
        summary += [
            {
                "demand_class": cls,
                "rule": r,
                "held_back_error": sums[r],
                "series": judged,
                "is_chosen": r == rule,
            }
            for r in RULES
        ]
    choice = {
        uid: (picks[chosen_rule[classes[uid]]][uid], chosen_rule[classes[uid]])
        for uid in picks["combo"]
    }
    return choice, pd.DataFrame(summary)


def _first_lowest(sums: Mapping[str, float]) -> str:
    best = min(sums.values()) if sums else 0.0
    return next(r for r in RULES if sums.get(r, np.inf) <= best * 1.001 + 1e-12)
