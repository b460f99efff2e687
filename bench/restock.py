"""Restock replay: CardPulse's card-key policy against a naive rule and an oracle.

Usage: .venv/bin/python bench/restock.py [--scale medium] [--seed 7] [--weeks 8]
       [--data DIR] [--warehouse FILE] [--forecast cardpulse|standin] [--from-cache]
       [--on-time] [--shelf-life-days N] [--late-buffer-days N] [--late-in-stock P] [--lost N]

The replay itself (World, policies, ``replay``) is ``forecasting.restock.replay``.

1. Generate the simulated platform once (``--data``, default
   ``/tmp/cardpulse_bench/restock_<scale>_<seed>``) with its ground truth, and build
   CardPulse's warehouse from it once (real ingest + dbt). What was known before the replay
   (sales, card-key stockout days, opening stock, suppliers, gross margin for ABC, learnt
   delivery delays) is read from the warehouse with the production loaders; the demand that
   came is the simulator's truth.
2. Replay the last ``--weeks`` weeks of its history day by day, per active card-key SKU.
   Every morning each policy sees only what was known: yesterday's closing stock, keys on
   order, keys expiring within 7 days, and sales up to yesterday (the warehouse's history
   before the replay, then the replay's own sales, which are censored by its own stock-outs).
   An order placed on day t arrives on the morning of day t + ceil(lead_time_hours / 24),
   plus a delay drawn the way the simulator draws it (``draw_delays``; ``--on-time``: none).
   Demand is the simulator's ground truth: its realized demand per SKU and day before its own
   stock rationed it (past the export's end, drawn from the expected units the way the
   simulator draws orders); unmet demand is lost. Keys are sold earliest
   expiry first and expire ``shelf_life_days`` after arrival.
3. Policies: (a) CardPulse (``forecasting.restock.decide_card_key_order`` on a forecast
   re-run every week: ``forecasting.demand.forecast_demand``, or ``--forecast standin``, a
   weekday-adjusted 28-day mean; each supplier's delays learnt from the year of inventory
   snapshots before the replay, as the build does, and each SKU's late cover sized from
   them and its order cycle, or ``--late-buffer-days N`` for all);
   (b) naive: keep 14 days of the trailing 28-day average (whole batches, MOQ); (c) oracle:
   the same rule fed the true future demand, no safety stock.
4. Print fill rate, average on hand in days of demand, keys expired, purchase orders.

Stock the platform already held when the replay starts: keys in ``expiring_7d`` are taken
to expire on day 3, the rest halfway through their shelf life; keys on order arrive on day 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from export_data import ensure_export, ensure_warehouse  # noqa: E402

from forecasting.demand.inputs import load_demand_inputs  # noqa: E402
from forecasting.restock import RestockPolicy, SupplierTerms, abc_classes  # noqa: E402
from forecasting.restock.replay import (  # noqa: E402
    LOOKAHEAD_DAYS,
    NAIVE_COVER_DAYS,
    CardPulse,
    Naive,
    Oracle,
    Outcome,
    World,
    cardpulse_paths,
    replay,
    standin_paths,
)
from pipelines.assets.restock import (  # noqa: E402
    read_events,
    read_gross_margin,
    read_late_delays,
    read_latest_inventory,
    read_skus,
    read_suppliers,
)

# --- the world the replay runs in --------------------------------------------------------


def _truth_frame(folder: Path) -> pd.DataFrame:
    """The ground truth per SKU and day, summed over provinces: ``expected`` units and, for
    days inside the export, ``realized`` (the simulator's own draw before stock rationed it)."""
    path = folder / "_truth" / "expected_demand.parquet"
    if not path.exists():
        raise SystemExit(f"bench: no ground truth at {path}")
    frame = pd.read_parquet(path, columns=["sku_id", "ds", "expected_units", "demand_units"])
    frame["ds"] = pd.to_datetime(frame["ds"]).dt.date
    return frame.groupby(["sku_id", "ds"], as_index=False).agg(
        expected=("expected_units", "sum"), realized=("demand_units", lambda v: v.sum(min_count=1))
    )


def draw_demand(expected: np.ndarray, categories: list[str], rng) -> np.ndarray:
    """Units per [sku, day] drawn the way the simulator draws orders: a day shock, Poisson
    order counts, and order quantities from the category's distribution."""
    from pipelines.simulator import orders as sim

    day_shock = rng.gamma(sim.DAY_SHOCK_SHAPE, 1.0 / sim.DAY_SHOCK_SHAPE, expected.shape)
    units = np.zeros(expected.shape, dtype=np.int64)
    for row, category in enumerate(categories):
        probs = np.array(sim.QUANTITY_PROBS[category], dtype=float)
        counts = rng.poisson(expected[row] / sim.quantity_mean(category) * day_shock[row])
        for day, count in enumerate(counts):
            if count:
                units[row, day] = rng.choice(
                    sim.QUANTITY_VALUES, count, p=probs / probs.sum()
                ).sum()
    return units


def draw_delays(shape: tuple[int, int], rng) -> np.ndarray:
    """Late deliveries the way the simulator makes them (``pipelines.simulator.stock``): an
    order is late with probability ``LATE_DELIVERY_PROBABILITY``, then by 1-6 days."""
    from pipelines.simulator.stock import LATE_DELIVERY_PROBABILITY

    late = rng.random(shape) < LATE_DELIVERY_PROBABILITY
    return np.where(late, rng.integers(1, 7, shape), 0)


def load_world(
    folder: Path,
    warehouse: Path,
    weeks: int,
    seed: int,
    shelf_life_days: int | None = None,
    on_time: bool = False,
) -> World:
    """1. Read what the build would know from CardPulse's warehouse, with the production
    loaders; 2. pick the replay window (the last ``weeks`` weeks of demand orders); 3. draw
    demand from the truth; 4. the opening stock from the last day-end snapshot before it."""
    conn = duckdb.connect(str(warehouse), read_only=True)
    end = conn.execute("SELECT max(order_date) FROM analytics.fct_daily_sku_sales").fetchone()[0]
    start = end - dt.timedelta(days=7 * weeks - 1)
    skus = read_skus(conn)
    suppliers = read_suppliers(conn)
    events = read_events(conn)
    # Sales and card-key stockout days before the replay, exactly as the forecasting stage
    # reads them (demand statuses, business days and stockouts as the dbt models define).
    known = load_demand_inputs(conn, start)
    opening = read_latest_inventory(conn, start).set_index("sku_id")
    policy = RestockPolicy()
    margin = read_gross_margin(conn, start, policy.margin_lookback_days)
    # What CardPulse's build would learn from the year of snapshots before the replay.
    learnt = read_late_delays(conn, start, suppliers)
    conn.close()

    active = skus[(skus["delivery_type"] == "card_key") & skus["active"].fillna(True).astype(bool)]
    active = active.sort_values("sku_id").reset_index(drop=True)
    sku_ids = active["sku_id"].tolist()
    history_start = start - dt.timedelta(days=730)
    history_days = (start - history_start).days
    history = _daily(known.sku_sales, "units", sku_ids, history_start, history_days)
    stockout = (
        _daily(known.stockouts.assign(units=1), "units", sku_ids, history_start, history_days) > 0
    )
    opening = opening.reindex(sku_ids)

    truth = _truth_frame(folder)
    truth = truth[truth["sku_id"].isin(sku_ids)]
    shape = (len(sku_ids), 7 * weeks + LOOKAHEAD_DAYS)
    expected, realized = np.zeros(shape), np.full(shape, np.nan)
    offsets = np.array([(d - start).days for d in truth["ds"]])
    keep = (offsets >= 0) & (offsets < shape[1])
    rows = pd.Index(sku_ids).get_indexer(truth["sku_id"])
    expected[rows[keep], offsets[keep]] = truth["expected"].to_numpy()[keep]
    realized[rows[keep], offsets[keep]] = truth["realized"].to_numpy()[keep]
    # Inside the export: the simulator's realized demand; past its end: drawn the same way.
    drawn = draw_demand(expected, active["category"].tolist(), np.random.default_rng(seed))
    demand = np.where(np.isnan(realized), drawn, realized).astype(np.int64)

    margin = margin.reindex(sku_ids).fillna(0.0)
    service = np.array([policy.service_level(c) for c in abc_classes(margin, policy.abc_cutoffs)])
    by_supplier = suppliers.set_index("supplier_id")

    def terms(supplier_id) -> SupplierTerms:
        if supplier_id not in by_supplier.index:
            return SupplierTerms()
        row = by_supplier.loc[supplier_id]
        return SupplierTerms(row["lead_time_hours"], row["min_order_qty"], row["batch_size"])

    shelf = [None if pd.isna(v) or int(v) <= 0 else int(v) for v in active["shelf_life_days"]]
    if shelf_life_days:
        shelf = [shelf_life_days] * len(shelf)
    # Its own generator, so the delays are the same for every policy and every option.
    delays = draw_delays((len(sku_ids), 7 * weeks), np.random.default_rng([seed, 5]))
    if on_time:
        delays[:] = 0
    return World(
        start=start, days=7 * weeks, sku_id=sku_ids,
        supplier_id=active["supplier_id"].tolist(), category=active["category"].tolist(),
        brand=active["brand"].tolist(), terms=[terms(s) for s in active["supplier_id"]],
        shelf_life=shelf, service_level=service, demand=demand, history=history,
        history_stockout=stockout, history_start=history_start,
        on_hand=opening["on_hand"].fillna(0).to_numpy(dtype=np.int64),
        on_order=opening["on_order"].fillna(0).to_numpy(dtype=np.int64),
        expiring_7d=opening["expiring_7d"].fillna(0).to_numpy(dtype=np.int64),
        events=events, delay=delays,
        late_delays=[learnt.get(s) for s in active["supplier_id"]],
    )  # fmt: skip


def _daily(
    frame: pd.DataFrame, column: str, sku_ids: list[str], first: dt.date, days: int
) -> np.ndarray:
    """``column`` summed per [sku, day] from ``first`` on (``ds`` dates or Timestamps)."""
    grid = np.zeros((len(sku_ids), days), dtype=np.int64)
    if frame.empty:
        return grid
    day = pd.to_datetime(frame["ds"]).dt.date
    summed = frame.assign(ds=day).groupby(["sku_id", "ds"], as_index=False)[column].sum()
    rows = pd.Index(sku_ids).get_indexer(summed["sku_id"])
    cols = np.array([(d - first).days for d in summed["ds"]])
    keep = (rows >= 0) & (cols >= 0) & (cols < days)
    grid[rows[keep], cols[keep]] = np.rint(summed[column].to_numpy()[keep]).astype(np.int64)
    return grid


# --- the weekly forecasts, cached -----------------------------------------------------------


FORECAST_CACHE = Path(__file__).resolve().parent / "out" / "restock-forecasts"


def cached(forecaster, folder: Path, only: bool = False):
    """The weekly forecasts, kept in ``folder`` (one pickle per as-of day): the slow part of
    the replay (Prophet, ~90 s a fit) run once per export, seed and week, so policy
    experiments rerun in seconds. The forecast sees the replay's own censored sales, so a
    cached one is exact for the run that wrote it and, for another policy or delivery rule,
    the forecast the first run made (stock-outs change its inputs only on the few lost days).
    With ``only``, a missing forecast is an error instead of a fit."""
    import pickle

    def run(world: World, sales, stockout, as_of: dt.date):
        path = folder / f"{as_of.isoformat()}.pkl"
        if path.exists():
            return pickle.loads(path.read_bytes())
        if only:
            raise SystemExit(f"no cached forecast {path}: run once without --from-cache")
        paths = forecaster(world, sales, stockout, as_of)
        folder.mkdir(parents=True, exist_ok=True)
        scratch = path.with_suffix(".tmp")
        scratch.write_bytes(pickle.dumps(paths))
        scratch.replace(path)  # never a half-written cache file
        return paths

    return run


def print_late_cover(world: World, cardpulse: CardPulse, fixed: int | None) -> None:
    """Per supplier: the share of its batches seen late and the late cover its SKUs held."""
    if fixed is not None:
        print(f"late cover: {fixed} days for every SKU (--late-buffer-days)")
        return
    parts = []
    for supplier_id in sorted(set(world.supplier_id)):
        rows = [r for r, s in enumerate(world.supplier_id) if s == supplier_id]
        pmf = world.late_delays[rows[0]] if world.late_delays else None
        covers = [d.late_cover_days for (r, _), d in cardpulse.decisions.items() if r in rows]
        seen = "not learnt" if pmf is None else f"{1 - pmf[0]:.0%} late"
        held = f"{min(covers)}-{max(covers)} d" if covers else "-"
        parts.append(f"{supplier_id} {seen}, cover {held}")
    print(f"late cover (in-stock {cardpulse.policy.late_in_stock:.1%}): " + "; ".join(parts))


def print_lost(world: World, outcomes: list[Outcome], cardpulse: CardPulse, top: int) -> None:
    """Where CardPulse loses sales the oracle makes: the share lost while a late batch was
    overdue, then the ``top`` largest lost SKU-days with that morning's plan."""
    ours, oracle = outcomes[0], outcomes[2]
    lost = sum(ours.lost.values())
    late = sum(units for key, units in ours.lost.items() if key in ours.late)
    print(
        f"CardPulse lost {lost} keys on {len(ours.lost)} SKU-days, {late} of them while a "
        f"late batch was overdue; the oracle lost {sum(oracle.lost.values())} "
        f"({sum(u for k, u in oracle.lost.items() if k in oracle.late)} while one was late)"
    )
    ranked = sorted(ours.lost.items(), key=lambda item: -item[1])[:top]
    for (row, day), units in ranked:
        decision = cardpulse.decisions.get((row, day))
        plan = (
            ""
            if decision is None
            else (
                f" position {decision.position:.0f} reorder point {decision.reorder_point:.0f}"
                f" safety {decision.safety_stock:.0f} daily {decision.daily_demand:.1f}"
            )
        )
        print(f"  {world.start + dt.timedelta(days=day)} {world.sku_id[row]:<10} demand "
              f"{world.demand[row, day]:>4} lost {units:>4} lead {world.terms[row].lead_days}d"
              f"{' LATE batch' if (row, day) in ours.late else ''}{plan}")  # fmt: skip


# --- main ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument(
        "--data", type=Path, help="the export (with _truth/), generated once if absent"
    )
    parser.add_argument(
        "--warehouse", type=Path, help="a warehouse built from it (default: built once)"
    )
    parser.add_argument("--forecast", choices=("cardpulse", "standin"), default="cardpulse")
    parser.add_argument(
        "--from-cache",
        action="store_true",
        help="use only the cached weekly forecasts in bench/out (no fits)",
    )
    parser.add_argument(
        "--shelf-life-days",
        type=int,
        help="override every SKU's shelf life (so the expiry cap binds)",
    )
    parser.add_argument(
        "--on-time",
        action="store_true",
        help="every order arrives after its nominal lead time (no late ones)",
    )
    parser.add_argument(
        "--late-buffer-days",
        type=int,
        help="one late cover for every supplier (default: learnt per supplier from the "
        f"inventory history, else {RestockPolicy().late_buffer_days})",
    )
    parser.add_argument(
        "--late-in-stock",
        type=float,
        default=RestockPolicy.late_in_stock,
        help="with learnt delays, the probability that late batches leave a day short "
        f"(default {RestockPolicy.late_in_stock})",
    )
    parser.add_argument(
        "--lost",
        type=int,
        default=0,
        metavar="N",
        help="list CardPulse's N largest lost SKU-days and why",
    )
    args = parser.parse_args(argv)
    logging.getLogger("cmdstanpy").addHandler(logging.NullHandler())
    logging.getLogger("cmdstanpy").propagate = False
    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)

    began = time.perf_counter()
    default = Path("/tmp/cardpulse_bench") / f"restock_{args.scale}_{args.seed}"
    folder = ensure_export(args.data or default, args.scale, args.seed)
    warehouse = args.warehouse or ensure_warehouse(folder)
    world = load_world(folder, warehouse, args.weeks, args.seed, args.shelf_life_days, args.on_time)
    print(
        f"replay {world.start} .. {world.start + dt.timedelta(days=world.days - 1)}: "
        f"{len(world.sku_id)} active card-key SKUs, scale {args.scale}, seed {args.seed}, "
        f"{'on-time deliveries' if args.on_time else 'late deliveries as simulated'}, "
        f"shelf life {args.shelf_life_days or 'from the catalogue'}, "
        f"data ready in {time.perf_counter() - began:.1f}s"
    )
    forecaster = cardpulse_paths if args.forecast == "cardpulse" else standin_paths
    if args.forecast == "cardpulse":
        cache = FORECAST_CACHE / f"{args.scale}-seed{args.seed}-weeks{args.weeks}-warehouse"
        forecaster = cached(forecaster, cache, only=args.from_cache)
    fixed = args.late_buffer_days is not None
    policy = RestockPolicy(
        late_buffer_days=args.late_buffer_days if fixed else RestockPolicy.late_buffer_days,
        late_in_stock=args.late_in_stock,
    )
    cardpulse = CardPulse(world, forecaster, policy=policy, learn=not fixed)
    outcomes = [
        replay(world, cardpulse),
        replay(world, Naive(world)),
        replay(world, Oracle(world)),
    ]

    # The naive rule with the fewest days of cover that fills at least as well as CardPulse:
    # the comparison "at equal or better fill rate" the 14-day rule itself cannot give.
    matched = next(
        (o for days in range(1, NAIVE_COVER_DAYS + 1)
         if (o := replay(world, Naive(world, days))).fill_rate >= outcomes[0].fill_rate),
        None,
    )  # fmt: skip
    if matched is not None:
        matched.name += " (=fill)"
        outcomes.append(matched)
    weights = world.demand[:, : world.days].sum(axis=1)
    target = float((world.service_level * weights).sum() / max(weights.sum(), 1))
    print(f"forecast: {args.forecast} (refit weekly, {cardpulse.forecast_seconds:.1f}s in total)")
    print_late_cover(world, cardpulse, args.late_buffer_days)
    print(f"{'policy':<24}{'fill rate':>10}{'on hand (days)':>16}{'expired':>9}"
          f"{'bought':>10}{'expired %':>11}{'PO lines':>10}{'POs':>6}{'seconds':>9}")  # fmt: skip
    for o in outcomes:
        share = 100 * o.expired_bought / o.bought if o.bought else 0.0
        print(f"{o.name:<24}{o.fill_rate:>10.2%}{o.on_hand_days:>16.2f}{o.expired:>9}"
              f"{o.bought:>10}{share:>10.2f}%{o.order_lines:>10}{o.purchase_orders:>6}"
              f"{o.seconds:>9.1f}")  # fmt: skip
    # Lost before an order placed on the first morning could arrive: opening stock only, the
    # same for every policy, so no policy can fill more than this ceiling.
    early = sum(
        units for (row, day), units in outcomes[0].lost.items() if day < world.terms[row].lead_days
    )
    print(
        f"lost before any order could arrive (same for every policy): {early} keys; "
        f"fill ceiling {1 - early / max(outcomes[0].demand, 1):.2%}"
    )
    ours, naive = outcomes[0], outcomes[1]
    checks = {
        f"fill rate >= target service level {target:.2%}": ours.fill_rate >= target,
        "on hand <= 0.8 x naive at equal or better fill": ours.on_hand_days
        <= 0.8 * naive.on_hand_days
        and ours.fill_rate >= naive.fill_rate,
        "expired <= 1% of keys bought": ours.expired_bought <= 0.01 * max(ours.bought, 1),
    }
    if matched is not None:
        checks["on hand <= 0.8 x the naive rule tuned to equal fill"] = (
            ours.on_hand_days <= 0.8 * matched.on_hand_days
        )
    for label, passed in checks.items():
        print(f"target {label}: {'OK' if passed else 'NOT MET'}")
    print_lost(world, outcomes, cardpulse, args.lost)
    return 0


if __name__ == "__main__":
    sys.exit(main())
