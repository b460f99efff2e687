"""Plain-words reasons, one per plan line, in English and Chinese.

Each reason is a list of short clauses joined with "; " (en) or "；" (zh), most important
first: cover, lead time, what to order and why that much, then the next event.
"""

from __future__ import annotations

import datetime as dt

from forecasting.restock.card_keys import CardKeyDecision, plan_day
from forecasting.restock.upcoming_events import Event

_MAX_EVENTS = 1


def _days(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def _n_days(count: int) -> str:
    """ "1 day", "3 days" (English only needs it)."""
    return f"{count} day" if count == 1 else f"{count} days"


def event_clause(event: Event, as_of: dt.date) -> tuple[str, str]:
    """ "Double 11 starts in 5 days" / "双11 5 天后开始", or that it is under way."""
    if event.start_date > as_of:
        days = (event.start_date - as_of).days
        if days == 1:
            return f"{event.name_en} starts tomorrow", f"{event.name_zh} 明天开始"
        return f"{event.name_en} starts in {days} days", f"{event.name_zh} {days} 天后开始"
    return (
        f"{event.name_en} under way until {event.end_date.isoformat()}",
        f"{event.name_zh} 进行中，至 {event.end_date.isoformat()}",
    )


def card_key_reason(
    decision: CardKeyDecision,
    as_of: dt.date,
    *,
    active: bool = True,
    shelf_life_days: int | None = None,
    moq: int = 1,
    batch: int = 1,
    events: list[Event] = (),
) -> tuple[str, str]:
    """The reason for one card-key line as ``(en, zh)``."""
    en: list[str] = []
    zh: list[str] = []
    if not active:
        return "inactive SKU: not reordered", "已下架，不补货"
    if decision.days_of_cover is None:
        en.append("covers more than a year")
        zh.append("库存可售超过一年")
    elif decision.position <= 0:
        en.append("out of stock")
        zh.append("已缺货")
    else:
        cover_days = round(decision.days_of_cover)
        en.append(f"covers {_n_days(cover_days)}")
        zh.append(f"现有库存可售 {cover_days} 天")
    en.append(f"lead time {_n_days(decision.lead_days)}")
    zh.append(f"供货周期 {decision.lead_days} 天")
    if decision.wasted_expiring:
        en.append(f"{decision.wasted_expiring} keys expire unsold within 7 days")
        zh.append(f"{decision.wasted_expiring} 张卡密将在 7 天内过期未售")
    if decision.order_qty > 0:
        order_by = plan_day(as_of, decision.order_by_day) or as_of
        en.append(f"order {decision.order_qty} keys by {order_by.isoformat()}")
        zh.append(f"请在 {order_by.isoformat()} 前下单 {decision.order_qty} 张")
        if decision.stockout_before_delivery:
            en.append("stock runs out before a new order can arrive")
            zh.append("新货到达前库存将售罄")
        late_keys = round(decision.late_cover_keys)
        if late_keys > 0:
            days = decision.late_cover_days
            en.append(
                f"holds {late_keys} keys (about {_n_days(days)}) more in case a delivery is late"
            )
            zh.append(f"另备 {late_keys} 张（约 {days} 天的量）以防到货延误")
    elif decision.position >= decision.reorder_point:
        en.append(f"above reorder point {decision.reorder_point:.0f}: no order")
        zh.append(f"高于再订货点 {decision.reorder_point:.0f}，无需下单")
    if decision.raised_to_moq:
        en.append(f"raised to the MOQ of {moq} (batches of {batch})")
        zh.append(f"按起订量 {moq} 下单（每批 {batch} 张）")
    if decision.blocked_by_expiry:
        en.append(
            f"MOQ {moq} is more than sells within the {shelf_life_days}-day shelf life: not ordered"
        )
        zh.append(f"起订量 {moq} 超过保质期 {shelf_life_days} 天内可售量，未下单")
    elif decision.capped_by_expiry:
        en.append(f"capped at {decision.expiry_cap} keys by the {shelf_life_days}-day shelf life")
        zh.append(f"受保质期 {shelf_life_days} 天限制，最多 {decision.expiry_cap} 张")
    for event in list(events)[:_MAX_EVENTS]:
        clause_en, clause_zh = event_clause(event, as_of)
        en.append(clause_en)
        zh.append(clause_zh)
    return "; ".join(en), "；".join(zh)
