"""Words and number formats of the dashboard: Simplified Chinese by default, English on request.

Every visible string goes through ``t(key, lang)`` so a page never mixes languages; money is
shown as ``¥`` with thousands separators and dates as Asia/Shanghai business dates.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from forecasting.pricing.guardrails import GUARDRAIL_LABELS
from pipelines.settings import BUSINESS_TZ

LANGUAGES = {"zh": "中文", "en": "English"}
DEFAULT_LANGUAGE = "zh"

STRINGS: dict[str, tuple[str, str]] = {
    # risk and reconciliation page (issue #19)
    "page_risk": ("风控与对账", "Risk and reconciliation"),
    "recon_summary": ("对账差异汇总", "Reconciliation discrepancies"),
    "recon_none": ("没有对账差异。", "Everything reconciles."),
    "recon_table_empty": ("这一项没有差异。", "No discrepancy of this kind."),
    "recon_orders_payments": ("订单与支付", "Orders and payments"),
    "recon_card_keys": ("卡密与批次", "Card keys and batches"),
    "recon_supplier_balances": ("供应商预付余额", "Supplier prepaid balances"),
    "risk_signals": ("风控信号", "Risk signals"),
    "risk_hint": (
        "每条信号附证据；同一对象的信号只提醒一次，数据恢复正常后重新布防。"
        "买家与 IP 以密钥散列显示。",
        "Each signal carries its evidence; it alerts once per subject and re-arms when the data "
        "returns to normal. Buyers and IPs are shown as keyed hashes.",
    ),
    "risk_none": ("当前没有风控信号。", "No risk signal open."),
    # frame and sign-in
    "app_title": ("CardPulse 卡脉", "CardPulse"),
    "language": ("语言", "Language"),
    "sign_in": ("登录", "Sign in"),
    "sign_in_title": ("登录 CardPulse", "Sign in to CardPulse"),
    "sign_in_sso": ("使用单点登录 (SSO)", "Sign in with SSO"),
    "sign_out": ("退出登录", "Sign out"),
    "username": ("用户名", "User name"),
    "password": ("密码", "Password"),
    "bad_credentials": ("用户名或密码错误。", "Wrong user name or password."),
    "locked": (
        "失败次数过多，请 {minutes} 分钟后再试。",
        "Too many failed attempts: try again in {minutes} min.",
    ),
    "slow_down": ("请等待 {seconds} 秒后再试。", "Please wait {seconds} s before trying again."),
    "session_expired": ("会话已过期，请重新登录。", "Your session expired: please sign in again."),
    "no_users": (
        "还没有任何账户。请先运行：cardpulse users add 名称 --role admin",
        "No accounts yet. Create one first: cardpulse users add NAME --role admin",
    ),
    "sso_unknown": (
        "{email} 未被授权，请联系管理员添加该账户。",
        "{email} is not authorised: ask an admin to add this account.",
    ),
    "sso_no_email": (
        "单点登录没有提供电子邮箱，无法对应到账户。请联系管理员。",
        "The single sign-on gave no e-mail address to match an account: ask an admin.",
    ),
    "sso_unverified": (
        "{email} 尚未在身份提供方验证，无法登录。",
        "{email} is not verified by the identity provider: it cannot sign in.",
    ),
    "signed_in_as": ("已登录：{name}（{role}）", "Signed in as {name} ({role})"),
    "role_merchant": ("商户", "merchant"),
    "role_ops": ("运营", "operations"),
    "role_pricing": ("定价", "pricing"),
    "role_admin": ("管理员", "admin"),
    "not_allowed": ("你的角色无权查看此页面。", "Your role cannot open this page."),
    # snapshot state
    "no_snapshot": (
        "尚未发布数据。请先运行 cardpulse build（或 cardpulse demo）。",
        "No data published yet. Run `cardpulse build` (or `cardpulse demo`) first.",
    ),
    "snapshot_unreadable": (
        "数据快照暂时无法读取：{reason}",
        "The data snapshot cannot be read right now: {reason}",
    ),
    "empty_table": (
        "{table}尚未构建：请运行 cardpulse build。",
        "{table} is not built yet: run `cardpulse build`.",
    ),
    "empty_built_table": (
        "{table}已构建，但当前没有任何行。",
        "{table} is built but holds no rows right now.",
    ),
    "no_rows_in_filter": ("当前筛选条件下没有数据。", "Nothing matches the current filters."),
    "data_as_of": ("数据截至 {as_of}（构建于 {built}）", "Data as of {as_of} (built {built})"),
    # pages
    "page_overview": ("商户概览", "Merchant overview"),
    # profit page (issue #18)
    "page_profit": ("利润与渠道", "Profit and channels"),
    "profit_waterfall": ("从交易额到净利润", "From GMV to net profit"),
    "wf_gmv": ("交易额", "GMV"),
    "wf_discount": ("优惠", "Discounts"),
    "wf_fee": ("支付手续费", "Payment fees"),
    "wf_commission": ("代理佣金", "Agent commission"),
    "wf_cost": ("成本", "Cost"),
    "wf_profit": ("净利润", "Net profit"),
    "net_profit": ("净利润", "Net profit"),
    "same_period_last_year": ("去年同期", "Same period last year"),
    "this_period": ("本期", "This period"),
    "vs_last_year": ("对比去年同期（同星期）", "Against the same weekdays a year before"),
    "uncosted_orders": (
        "{count} 笔订单没有成本，未计入利润瀑布。",
        "{count} orders have no known cost and are left out of the waterfall.",
    ),
    "profit_trend": ("每日收入与净利润", "Revenue and net profit per day"),
    "coupon_results": ("优惠券效果", "Coupon results"),
    "coupon_note": (
        "增量订单 = 券期订单 − 可比日（前后 28 天、无券日）推算的基线；区间为 90%。",
        "Incremental orders = orders on coupon days − the baseline from comparable days "
        "(28 days around, without a coupon); 90% interval.",
    ),
    "payment_channel_results": ("支付渠道", "Payment channels"),
    "agent_results": ("代理排行", "Agents ranked"),
    "agent_trend": ("代理每周收入", "Agents' revenue per week"),
    "payment_channel": ("支付渠道", "Payment channel"),
    "agent": ("代理", "Agent"),
    "coupon": ("优惠券", "Coupon"),
    "agent_scope": ("仅显示代理 {agent} 的销售。", "Showing agent {agent}'s sales only."),
    "no_profit_data": (
        "还没有利润数据（fct_order_profit 为空或未构建）。",
        "No profit data yet (fct_order_profit is empty or not built).",
    ),
    "page_operations": ("运营", "Operations"),
    "page_pricing": ("定价", "Pricing"),
    "page_health": ("数据健康", "Data health"),
    # filters
    "filters": ("筛选", "Filters"),
    "choose": ("请选择", "Choose options"),
    "date_range": ("日期范围", "Date range"),
    "category": ("品类", "Category"),
    "sku": ("商品", "SKU"),
    "merchant": ("商户", "Merchant"),
    "all_merchants": ("全部商户", "All merchants"),
    "merchant_scope": ("商户：{merchant}（含下级代理）", "Merchant: {merchant} (with sub-agents)"),
    # overview
    "gmv": ("交易额 (GMV)", "GMV"),
    "net_revenue": ("净收入", "Net revenue"),
    "gross_margin": ("毛利", "Gross margin"),
    "orders": ("订单数", "Orders"),
    "refund_rate": ("退款率", "Refund rate"),
    "failure_rate": ("失败率", "Failure rate"),
    "avg_delivery": ("平均发货时长", "Avg delivery time"),
    "points": ("{value} 个百分点", "{value} pp"),
    "vs_previous": ("对比上一周期", "vs previous period"),
    "vs_year": ("同比（去年同期）", "vs same period last year"),
    "compare_with": ("对比", "Compare with"),
    "compare_previous": ("上一周期", "Previous period"),
    "compare_year": ("去年同期", "Same period last year"),
    "date_preset": ("时间段", "Period"),
    "preset_custom": ("自定义", "Custom"),
    "preset_today": ("今天", "Today"),
    "preset_last_7": ("近 7 天", "Last 7 days"),
    "preset_last_30": ("近 30 天", "Last 30 days"),
    "preset_last_90": ("近 90 天", "Last 90 days"),
    "preset_this_month": ("本月", "This month"),
    "preset_last_year_30": ("去年同期（近 30 天）", "Same 30 days last year"),
    "preset_no_data": (
        "数据从 {first} 开始，没有该时间段的数据；日期范围未改变。",
        "The data starts on {first} and holds none of those days; the date range is unchanged.",
    ),
    "drill_hint": (
        "点击热销商品的柱形可只看该商品（筛选随之更新，CSV 为其每日明细）。",
        "Click a top-SKU bar to look at that SKU alone (the filters follow; the CSV holds "
        "its daily lines).",
    ),
    "region_drill_hint": (
        "点击省份方块或柱形可只看该省份（商品、趋势与 CSV 随之更新；在筛选中清除）。",
        "Click a province's tile or bar to look at that province alone (SKUs, trend and CSV "
        "follow; clear it in the filters).",
    ),
    "agent_trend_top": (
        "图中为销售额最高的 {shown} 个代理（共 {total} 个，表中为全部）。",
        "The chart shows the {shown} agents with the most revenue ({total} in all, every one "
        "in the table).",
    ),
    "forecast_all_provinces": (
        "预测按全国计算，选择省份时不显示。",
        "The forecast covers all provinces, so it is not shown while provinces are picked.",
    ),
    "daily_trend": ("每日销量与预测", "Daily units and forecast"),
    "units": ("销量", "Units"),
    "forecast": ("预测", "Forecast"),
    "forecast_band": ("预测区间", "Forecast interval"),
    "forecast_merchant_note": (
        "预测为该商户（含下级代理）自身的销量预测。",
        "The forecast is this merchant's own (with its sub-agents).",
    ),
    "forecast_share_note": (
        "预测按你在所选商品中的近 28 天销量占比折算。",
        "Forecast scaled by your share of these SKUs' units over the last 28 days.",
    ),
    "holiday": ("节假日", "Holiday"),
    "event": ("活动", "Event"),
    "top_skus": ("热销商品", "Top SKUs"),
    "provinces": ("省份分布", "Provinces"),
    "province_map": ("方块地图", "Tile map"),
    "province_ranking": ("排名", "Ranking"),
    "channels": ("渠道", "Channels"),
    "download_csv": ("下载 CSV", "Download CSV"),
    "download_xlsx": ("下载 Excel", "Download XLSX"),
    "date": ("日期", "Date"),
    "name": ("名称", "Name"),
    "region": ("省份", "Province"),
    "channel": ("渠道", "Channel"),
    # operations
    "restock_plan": ("补货计划", "Restock plan"),
    "risk": ("风险", "Risk"),
    "risk_out_now": ("已断货", "Out now"),
    "risk_before_arrival": ("到货前将断货", "Runs out before an order placed today arrives"),
    "risk_fine": ("正常", "Fine"),
    "days_of_cover": ("可售天数", "Days of cover"),
    "purchase_orders": ("供应商采购单", "Purchase orders per supplier"),
    "supplier": ("供应商", "Supplier"),
    "no_orders_needed": ("当前无需下采购单。", "No purchase order is needed right now."),
    "funding_plan": ("资金计划（预付余额）", "Funding plan (prepaid balances)"),
    "supplier_performance": ("供应商表现（近 28 天）", "Supplier performance (last 28 days)"),
    "success_rate": ("成功率", "Success rate"),
    "latency_p95": ("P95 延迟（秒）", "Latency p95 (s)"),
    "low_stock_alerts": ("低库存预警", "Low-stock alerts"),
    "low_stock": ("低库存", "Low stock"),
    "po_total": ("{supplier} 采购总额", "{supplier} order total"),
    "no_alerts": ("没有低库存预警。", "No low-stock alerts."),
    "expiring_keys": ("7 天内过期卡密", "Keys expiring within 7 days"),
    # pricing
    "elasticities": ("价格弹性（含区间）", "Price elasticities (with intervals)"),
    "elasticity": ("弹性", "Elasticity"),
    "chart_top": (
        "图中为预计利润提升最大的 {shown} 个（共 {total} 个）。",
        "The chart shows the {shown} with the largest expected profit gain ({total} in all).",
    ),
    "recommendations": ("调价建议", "Price recommendations"),
    "guardrails": ("约束", "Guardrails"),
    "what_if": ("假设分析", "What-if"),
    "what_if_pick": ("选择商品与省份", "Pick a SKU and region"),
    "what_if_price": ("试算价格 (¥)", "Trial price (¥)"),
    "no_topup_needed": ("无需充值", "No top-up needed"),
    "what_if_range": ("区间 {low} – {high}", "range {low} – {high}"),
    "what_if_limits": (
        "约束允许的价格：{low} – {high}（下限：{low_rules}；上限：{high_rules}）",
        "Prices the guardrails allow: {low} – {high} (floor: {low_rules}; ceiling: {high_rules})",
    ),
    "what_if_conflicts": (
        "与更严格的约束冲突、已搁置：{rules}",
        "Set aside because they conflict with stricter ones: {rules}",
    ),
    "what_if_current_outside": (
        "当前价格 {price} 已超出约束允许的范围。",
        "Today's price {price} is outside what the guardrails allow.",
    ),
    "what_if_single_price": (
        "约束只允许一个价格：{price}。",
        "The guardrails allow a single price: {price}.",
    ),
    "pricing_config_unreadable": (
        "定价配置无法读取，按默认约束计算：{reason}",
        "The pricing config cannot be read; the default guardrails apply: {reason}",
    ),
    "what_if_band": ("利润区间", "Profit range"),
    "expected_units": ("预计日销量", "Expected daily units"),
    "expected_revenue": ("预计日收入", "Expected daily revenue"),
    "expected_profit": ("预计日毛利", "Expected daily profit"),
    "approve": ("批准", "Approve"),
    "approve_hint": (
        "勾选要批准的价格，点击批准后记入审批记录，可导出。",
        "Tick the prices you approve and press Approve: they go into the approval history, "
        "which you can export.",
    ),
    "approve_not_allowed": (
        "只有定价或管理员角色可以批准价格。",
        "Only the pricing and admin roles can approve prices.",
    ),
    "export_approved": ("导出已批准价格 (CSV)", "Export approved prices (CSV)"),
    "export_approved_xlsx": ("导出已批准价格 (Excel)", "Export approved prices (XLSX)"),
    "approve_selected": ("批准所选价格", "Approve selected"),
    "select_all_rows": ("全选", "Select every row"),
    "revoke": ("撤销", "Revoke"),
    "revoke_selected": ("撤销所选批准（{count} 条）", "Revoke selected approvals ({count})"),
    "approvals_revoked": ("已撤销 {count} 条批准。", "{count} approvals revoked."),
    "approvals_stored": (
        "已保存 {stored} 个批准（所选 {ticked} 个，价格未变的不重复记录）",
        "{stored} approvals stored ({ticked} ticked; unchanged ones are not recorded twice)",
    ),
    "approvals_busy": (
        "审批记录正被另一进程占用，请稍后重试",
        "The approvals file is busy in another process; try again in a moment",
    ),
    "approvals_unreadable": (
        "审批记录文件无法读取（{reason}），请检查 approvals.duckdb",
        "The approvals file cannot be read ({reason}); check approvals.duckdb",
    ),
    "approval_history": ("审批记录", "Approval history"),
    "action_raise": ("提价", "raise"),
    "action_lower": ("降价", "lower"),
    "action_hold": ("维持", "hold"),
    "action_test": ("试价", "test"),
    "no_approvals_yet": ("暂无已批准的价格", "No prices approved yet"),
    "approved_count": ("已勾选 {count} 个价格", "{count} prices ticked"),
    "current_price": ("当前价格", "Current price"),
    "recommended_price": ("建议价格", "Recommended price"),
    # health
    "last_build": ("最近一次构建", "Last build"),
    "build_status": ("状态", "Status"),
    "as_of": ("预测基准日", "Forecast as of"),
    "no_build_info": ("没有构建记录。", "No build recorded."),
    "freshness": ("各表新鲜度", "Freshness per table"),
    "table": ("表", "Table"),
    "rows": ("行数", "Rows"),
    "latest": ("最新日期", "Latest date"),
    "quarantine": ("隔离的行", "Quarantined rows"),
    "quarantine_none": ("没有被隔离的行。", "No quarantined rows."),
    "quarantine_hint": (
        "规则变化或参考数据到齐后，运行 cardpulse quarantine replay 重新检查并载入通过的行。",
        "Once rules or reference data change, cardpulse quarantine replay checks these rows "
        "again and loads those that pass.",
    ),
    "inferred": ("推断的主数据", "Inferred master data"),
    "inferred_none": (
        "所有订单引用的商品、商户和供应商都有主数据。",
        "Every SKU, merchant and supplier that orders name has its master row.",
    ),
    "inferred_hint": (
        "这些编号出现在订单等数据中，但主数据文件里还没有：已按编号推断载入，请补发对应的主数据文件。",
        "These ids appear in orders and other rows but not yet in their master file: they are "
        "loaded as inferred members; please send the missing master file.",
    ),
    "notifications": ("告警通知发送", "Alert notifications"),
    "notify_none": (
        "还没有发送记录：在 cardpulse.toml 的 [notify] 中配置通道与路由（见 docs/notify.md）。",
        "Nothing sent yet: configure channels and routes under [notify] in cardpulse.toml "
        "(see docs/notify.md).",
    ),
    "notify_failed": (
        "{count} 条通知未能送达（已按退避重试）：检查通道后用 cardpulse notify list 查看，"
        "cardpulse notify retry 重发。",
        "{count} notifications could not be delivered (retried with back-off): check the "
        "channel, then see cardpulse notify list and resend with cardpulse notify retry.",
    ),
    "notify_hint": (
        "每条告警先记入发件箱再发送，同一告警只发一次；此处为最近一次构建发布时的状态。",
        "Every alert is recorded in the outbox before it is sent, and goes out once; shown as "
        "of the last published build.",
    ),
    "dbt_tests": ("dbt 测试结果", "dbt test results"),
    "forecast_accuracy": ("预测准确度（回测）", "Forecast accuracy (backtests)"),
}

# Table headers: a column keeps its warehouse name in CSV exports but reads as words on screen.
COLUMN_LABELS: dict[str, tuple[str, str]] = {
    # risk and reconciliation page (issue #19)
    "discrepancy_kind": ("差异类型", "Discrepancy"),
    "signal_kind": ("信号类型", "Signal"),
    "subject_type": ("对象类型", "Subject type"),
    "subject": ("对象", "Subject"),
    "window_start": ("窗口开始", "Window start"),
    "window_end": ("窗口结束", "Window end"),
    "score": ("评分", "Score"),
    "evidence": ("证据", "Evidence"),
    "order_ids": ("订单号", "Orders (ids)"),
    "first_seen": ("首次发现", "First seen"),
    "is_new": ("今日新增", "New today"),
    "discrepancies": ("差异数", "Discrepancies"),
    "payment_ids": ("支付流水", "Payments"),
    "occurred_at": ("发生时间", "Occurred at"),
    "age_hours": ("已过小时", "Age (hours)"),
    "related_order_id": ("关联订单", "Related order"),
    "batch_id": ("批次", "Batch"),
    "keys": ("卡密数", "Keys"),
    "previous_date": ("上次快照日期", "Previous snapshot"),
    "previous_balance": ("上次余额", "Previous balance"),
    "topup_cost": ("充值订单成本", "Top-up cost"),
    "topups": ("充值订单数", "Top-up orders"),
    "order_id": ("订单号", "Order"),
    # profit page (issue #18)
    "discount_amount": ("优惠金额", "Discounts"),
    "revenue": ("实收", "Revenue"),
    "payment_fee": ("支付手续费", "Payment fees"),
    "agent_commission": ("代理佣金", "Agent commission"),
    "cost_amount": ("成本", "Cost"),
    "net_profit": ("净利润", "Net profit"),
    "payment_channel": ("支付渠道", "Payment channel"),
    "agent_id": ("代理", "Agent"),
    "coupon_code": ("优惠券", "Coupon"),
    "commission_pct": ("佣金比例 (%)", "Commission (%)"),
    "incremental_orders": ("增量订单", "Incremental orders"),
    "incremental_low": ("增量下限", "Incremental, low"),
    "incremental_high": ("增量上限", "Incremental, high"),
    "share": ("占比", "Share"),
    "fee_rate": ("费率", "Fee rate"),
    "merchant_id": ("商户", "Merchant"),
    "alert_kind": ("告警类型", "Alert kind"),
    "notify_channel": ("通知通道", "Channel"),
    "attempts": ("尝试次数", "Attempts"),
    "title": ("标题", "Title"),
    "created_at": ("记录时间", "Recorded at"),
    "sent_at": ("发送时间", "Sent at"),
    "next_attempt_at": ("下次重试", "Next attempt"),
    "last_answer": ("服务器应答", "Server's answer"),
    "sku_id": ("商品编号", "SKU"),
    "sku_name": ("商品名称", "SKU name"),
    "name": ("名称", "Name"),
    "category": ("品类", "Category"),
    "region_code": ("省份", "Province"),
    "supplier_id": ("供应商", "Supplier"),
    "supplier_name": ("供应商名称", "Supplier name"),
    "as_of": ("基准日", "As of"),
    "units": ("销量", "Units"),
    "gmv": ("交易额", "GMV"),
    "gross_margin": ("毛利", "Gross margin"),
    "orders": ("订单数", "Orders"),
    "risk": ("风险", "Risk"),
    "alert": ("预警", "Alert"),
    "on_hand": ("库存", "On hand"),
    "on_order": ("在途", "On order"),
    "expiring_7d": ("7 天内过期", "Expiring in 7 d"),
    "daily_demand": ("日需求", "Daily demand"),
    "days_of_cover": ("可售天数", "Days of cover"),
    "stockout_date": ("预计断货日", "Stock-out date"),
    "safety_stock": ("安全库存", "Safety stock"),
    "reorder_point": ("再订货点", "Reorder point"),
    "order_qty": ("建议采购量", "Order qty"),
    "order_by": ("最晚下单日", "Order by"),
    "unit_cost": ("单位成本", "Unit cost"),
    "amount": ("金额", "Amount"),
    "po_id": ("采购单号", "PO"),
    "line_cost": ("金额", "Amount"),
    "batch_size": ("每批张数", "Batch size"),
    "batches": ("批数", "Batches"),
    "min_order_qty": ("起订量", "MOQ"),
    "moq_met": ("满足起订量", "MOQ met"),
    "po_lines": ("采购单行数", "PO lines"),
    "po_total_qty": ("采购单总量", "PO total qty"),
    "po_total_cost": ("采购单总额", "PO total cost"),
    "po_order_by": ("采购单最晚下单日", "PO order by"),
    "service_level": ("服务水平", "Service level"),
    "abc_class": ("ABC 分类", "ABC class"),
    "usable_position": ("可用库存+在途", "Usable position"),
    "lead_time_days": ("供货周期（天）", "Lead time (days)"),
    "shelf_life_days": ("保质期（天）", "Shelf life (days)"),
    "expiry_cap": ("保质期内最多可购", "Expiry cap"),
    "order_cost": ("采购金额", "Order cost"),
    "inventory_date": ("库存日期", "Inventory date"),
    "is_active": ("在售", "Active"),
    "has_forecast": ("有预测", "Has forecast"),
    "late_cover_days": ("延误备货（天）", "Late cover (days)"),
    "stock_risk": ("库存风险", "Stock risk"),
    "safety_buffer": ("安全余额", "Safety buffer"),
    "balance_date": ("余额日期", "Balance date"),
    "topup_skus": ("直充商品数", "Top-up SKUs"),
    "skus_without_cost": ("无成本商品数", "SKUs without cost"),
    "elasticity_low": ("弹性下限", "Elasticity low"),
    "elasticity_high": ("弹性上限", "Elasticity high"),
    "face_value": ("面值", "Face value"),
    "national_price": ("全国价", "National price"),
    "expected_units": ("预计销量", "Expected units"),
    "expected_profit": ("预计利润", "Expected profit"),
    "current_profit": ("当前利润", "Current profit"),
    "reason": ("原因", "Reason"),
    "balance": ("余额", "Balance"),
    "daily_cost": ("日消耗", "Daily cost"),
    "topup_amount": ("建议充值", "Top-up amount"),
    "topup_by": ("最晚充值日", "Top up by"),
    "success_rate": ("成功率", "Success rate"),
    "refund_rate": ("退款率", "Refund rate"),
    "latency_p95_seconds": ("P95 延迟（秒）", "Latency p95 (s)"),
    "current_price": ("当前价格", "Current price"),
    "recommended_price": ("建议价格", "Recommended price"),
    "margin_pct": ("毛利率 %", "Margin %"),
    "expected_units_change_pct": ("预计销量变化 %", "Units change %"),
    "expected_profit_change_pct": ("预计利润变化 %", "Profit change %"),
    "expected_profit_change": ("预计利润变化 (¥)", "Profit change (¥)"),
    "guardrails_hit": ("触发约束", "Guardrails hit"),
    "approved_price": ("批准价格", "Approved price"),
    "approved_by": ("批准人", "Approved by"),
    "approved_at": ("批准时间", "Approved at"),
    "action": ("操作", "Action"),
    "approve": ("批准", "Approve"),
    "table": ("表", "Table"),
    "rows": ("行数", "Rows"),
    "latest": ("最新日期", "Latest"),
    "built": ("已构建", "Built"),
    "entity": ("实体", "Entity"),
    "member_id": ("编号", "Id"),
    "example_reason": ("示例原因", "Example reason"),
    "file_path": ("文件", "File"),
    "line": ("行号", "Line"),
    "column_name": ("列", "Column"),
    "raw_text": ("原始内容", "Raw text"),
    "quarantined_at": ("隔离时间", "Quarantined at"),
    "status": ("状态", "Status"),
    "message": ("信息", "Message"),
    "resource_type": ("类型", "Type"),
    "failures": ("失败数", "Failures"),
    "execution_seconds": ("耗时（秒）", "Seconds"),
    "model": ("模型", "Model"),
    "series": ("序列数", "Series"),
    "selected": ("被选中", "Selected"),
    "median_wape": ("WAPE 中位数", "Median WAPE"),
    "mean_mase": ("MASE 均值", "Mean MASE"),
    "mean_bias": ("偏差均值", "Mean bias"),
    "interval_coverage": ("区间覆盖率", "Interval coverage"),
    "count": ("数量", "Count"),
    "build_id": ("构建编号", "Build"),
    "started_at": ("开始时间", "Started"),
    "finished_at": ("结束时间", "Finished"),
}

# Codes the data carries, as words on screen (CSV exports keep the codes). A code with no
# entry here (a shop's own category word, say) is shown as it is.
CODE_LABELS: dict[str, dict[str, tuple[str, str]]] = {
    # the alert registry's kinds (pipelines/notify/alert_kinds.py)
    "alert_kind": {
        "low_stock": ("低库存", "Low stock"),
        "funding": ("供应商余额不足", "Supplier balance runs out"),
        "quarantine": ("数据隔离超阈值", "Data quarantined above threshold"),
        "build_failed": ("构建失败", "Build failed"),
        "report": ("定时报表", "Scheduled report"),
        "reconciliation": ("对账差异", "Reconciliation discrepancy"),
        "risk": ("风控信号", "Risk signal"),
    },
    "discrepancy_kind": {
        "paid_not_delivered": ("已付款未发货（掉单）", "Paid, never delivered"),
        "delivered_without_payment": ("未付款已发货", "Delivered without payment"),
        "paid_twice": ("重复支付", "Paid twice"),
        "amount_mismatch": ("支付金额不符", "Amount paid differs"),
        "refund_without_payment": ("未付款却退款", "Refund without payment"),
        "key_delivered_twice": ("重复发卡", "Key delivered twice"),
        "key_delivered_to_two_orders": ("同一卡密发给两个订单", "Key delivered to two orders"),
        "batch_mismatch": ("批次不符", "Batch does not match"),
        "batch_overdrawn": ("批次超发", "Batch over-drawn"),
        "batch_never_drawn": ("批次从未出库", "Batch never drawn"),
        "batch_cost_mismatch": ("批次成本不符", "Batch cost differs"),
        "supplier_balance_gap": ("余额缺口", "Unexplained balance drop"),
    },
    "signal_kind": {
        "buyer_velocity": ("买家高频下单", "Buyer order velocity"),
        "ip_velocity": ("同 IP 多账号", "Many buyers on one IP"),
        "card_testing": ("盗卡试刷", "Card testing"),
        "buyer_refund_abuse": ("买家退款异常", "Buyer refund abuse"),
        "buyer_failure_abuse": ("买家失败异常", "Buyer failure abuse"),
        "merchant_refund_abuse": ("商户退款异常", "Merchant refund abuse"),
        "merchant_failure_abuse": ("商户失败异常", "Merchant failure abuse"),
        "unpaid_holding_stock": ("未付款占库存", "Unpaid orders holding stock"),
    },
    "subject_type": {
        "buyer_key": ("买家", "Buyer"),
        "ip_key": ("IP", "IP"),
        "merchant": ("商户", "Merchant"),
    },
    "category": {
        "game_card": ("游戏点卡", "Game cards"),
        "mobile_topup": ("话费充值", "Mobile top-up"),
        "data_topup": ("流量充值", "Data top-up"),
        "video_vip": ("视频会员", "Video memberships"),
        "software_license": ("软件授权", "Software licences"),
        "gift_card": ("礼品卡", "Gift cards"),
    },
    "channel": {
        "web": ("网页", "Web"),
        "api": ("API 对接", "API"),
        "mini_program": ("小程序", "Mini program"),
        "douyin": ("抖音", "Douyin"),
        "other": ("其他", "Other"),
        "unknown": ("未知", "Unknown"),
    },
    "status": {
        "open": ("未解决", "Open"),
        "resolved": ("已解决", "Resolved"),
        "success": ("成功", "Succeeded"),
        "succeeded": ("成功", "Succeeded"),
        "ok": ("成功", "OK"),
        "failure": ("失败", "Failed"),
        "failed": ("失败", "Failed"),
        "running": ("运行中", "Running"),
        "pass": ("通过", "Passed"),
        "fail": ("未通过", "Failed"),
        "warn": ("警告", "Warning"),
        "error": ("出错", "Error"),
        "skipped": ("已跳过", "Skipped"),
        "pending_payment": ("待支付", "Awaiting payment"),
        "paid": ("已支付", "Paid"),
        "delivered": ("已发货", "Delivered"),
        "refunded": ("已退款", "Refunded"),
        "cancelled": ("已取消", "Cancelled"),
        "pending": ("待发送", "Pending"),
        "sending": ("发送中", "Sending"),
        "sent": ("已发送", "Sent"),
        "interrupted": ("发送中断（未重发）", "Interrupted (not resent)"),
        "in_digest": ("已并入汇总", "In a digest"),
    },
    "resource_type": {
        "model": ("模型", "Model"),
        "test": ("测试", "Test"),
        "unit_test": ("单元测试", "Unit test"),
        "seed": ("种子数据", "Seed"),
        "snapshot": ("快照", "Snapshot"),
        "source": ("数据源", "Source"),
    },
    "entity": {
        "orders": ("订单", "Orders"),
        "skus": ("商品", "SKUs"),
        "merchants": ("商户", "Merchants"),
        "suppliers": ("供应商", "Suppliers"),
        "price_changes": ("调价记录", "Price changes"),
        "inventory": ("库存", "Inventory"),
        "supplier_balances": ("供应商余额", "Supplier balances"),
        "events": ("活动", "Events"),
        "payments": ("支付记录", "Payments"),
        "card_batches": ("卡密批次", "Card batches"),
        "agents": ("代理", "Agents"),
    },
    "model": {
        "prophet": ("Prophet", "Prophet"),
        "seasonal_naive": ("季节性朴素法", "Seasonal naive"),
        "recent_mean": ("近期均值", "Recent mean"),
        "ets": ("指数平滑 (ETS)", "Exponential smoothing (ETS)"),
        "auto_ets": ("自动指数平滑", "Auto ETS"),
        "intermittent": ("间歇需求法", "Intermittent demand"),
        "zero": ("零销量", "Zero sales"),
        "blend_prophet_ets": ("混合：Prophet + 指数平滑", "Blend: Prophet + ETS"),
        "blend_ets_intermittent": ("混合：指数平滑 + 间歇需求法", "Blend: ETS + intermittent"),
        "auto_theta": ("Theta 法", "Theta"),
        "auto_ces": ("复指数平滑 (CES)", "Complex exponential smoothing (CES)"),
        "croston_sba": ("Croston 法 (SBA)", "Croston (SBA)"),
        "tsb": ("TSB 间歇需求法", "TSB intermittent"),
        "adida": ("ADIDA 聚合法", "ADIDA aggregation"),
        "imapa": ("IMAPA 多层聚合法", "IMAPA multi-level aggregation"),
        "median_ets_theta_ces": (
            "组合中位数：指数平滑 + Theta + CES",
            "Median of ETS, Theta and CES",
        ),
        "median_prophet_ets_theta_ces": (
            "组合中位数：Prophet + 指数平滑 + Theta + CES",
            "Median of Prophet, ETS, Theta and CES",
        ),
        "median_intermittent": (
            "组合中位数：四种间歇需求法",
            "Median of four intermittent methods",
        ),
    },
    "payment_channel": {
        "alipay": ("支付宝", "Alipay"),
        "wxpay": ("微信支付", "WeChat Pay"),
        "qqpay": ("QQ 钱包", "QQ Wallet"),
        "unionpay": ("银联", "UnionPay"),
        "usdt": ("USDT", "USDT"),
        "balance": ("余额", "Balance"),
        "unknown": ("未知渠道", "Unknown channel"),
    },
    "action": {
        "raise": ("提价", "raise"),
        "lower": ("降价", "lower"),
        "hold": ("维持", "hold"),
        "test": ("试价", "test"),
    },
    "region": {
        "ALL": ("全国", "All regions"),
        "UNKNOWN": ("未知省份", "Unknown province"),
        "CN-BJ": ("北京", "Beijing"),
        "CN-TJ": ("天津", "Tianjin"),
        "CN-HE": ("河北", "Hebei"),
        "CN-SX": ("山西", "Shanxi"),
        "CN-NM": ("内蒙古", "Inner Mongolia"),
        "CN-LN": ("辽宁", "Liaoning"),
        "CN-JL": ("吉林", "Jilin"),
        "CN-HL": ("黑龙江", "Heilongjiang"),
        "CN-SH": ("上海", "Shanghai"),
        "CN-JS": ("江苏", "Jiangsu"),
        "CN-ZJ": ("浙江", "Zhejiang"),
        "CN-AH": ("安徽", "Anhui"),
        "CN-FJ": ("福建", "Fujian"),
        "CN-JX": ("江西", "Jiangxi"),
        "CN-SD": ("山东", "Shandong"),
        "CN-HA": ("河南", "Henan"),
        "CN-HB": ("湖北", "Hubei"),
        "CN-HN": ("湖南", "Hunan"),
        "CN-GD": ("广东", "Guangdong"),
        "CN-GX": ("广西", "Guangxi"),
        "CN-HI": ("海南", "Hainan"),
        "CN-CQ": ("重庆", "Chongqing"),
        "CN-SC": ("四川", "Sichuan"),
        "CN-GZ": ("贵州", "Guizhou"),
        "CN-YN": ("云南", "Yunnan"),
        "CN-XZ": ("西藏", "Tibet"),
        "CN-SN": ("陕西", "Shaanxi"),
        "CN-GS": ("甘肃", "Gansu"),
        "CN-QH": ("青海", "Qinghai"),
        "CN-NX": ("宁夏", "Ningxia"),
        "CN-XJ": ("新疆", "Xinjiang"),
        "CN-TW": ("台湾", "Taiwan"),
        "CN-HK": ("香港", "Hong Kong"),
        "CN-MO": ("澳门", "Macao"),
    },  # fmt: skip
    # The pricing stage's names in `guardrails_hit` (its own words are (en, zh): swapped here).
    "guardrail": {name: (zh, en) for name, (en, zh) in GUARDRAIL_LABELS.items()},
}
# Which columns hold which kind of code.
CODE_COLUMNS = {
    "discrepancy_kind": "discrepancy_kind",
    "signal_kind": "signal_kind",
    "subject_type": "subject_type",
    "payment_channel": "payment_channel",
    "alert_kind": "alert_kind",
    "category": "category",
    "channel": "channel",
    "region_code": "region",
    "status": "status",
    "build_status": "status",
    "resource_type": "resource_type",
    "entity": "entity",
    "model": "model",
    "action": "action",
    "guardrails_hit": "guardrail",
    "guardrail_conflicts": "guardrail",
}
# Build messages the pipeline writes in English, as patterns with their translations.
MESSAGE_PATTERNS: list[tuple[re.Pattern[str], tuple[str, str]]] = [
    (re.compile(r"^ok$", re.IGNORECASE), ("正常", "OK")),
    (
        re.compile(r"^dbt tests: (?P<passed>\d+) of (?P<total>\d+) passed$"),
        ("dbt 测试：{total} 项中 {passed} 项通过", "dbt tests: {passed} of {total} passed"),
    ),
]


# Codes with a number in them: the regional share of the total forecast over N days.
CODE_PATTERNS: dict[str, list[tuple[re.Pattern[str], tuple[str, str]]]] = {
    "model": [
        (
            re.compile(r"^top_down_(?P<days>\d+)d$"),
            ("自上而下（按近 {days} 天占比）", "Top-down ({days}-day shares)"),
        )
    ],
}


def code_label(kind: str, code: object, lang: str = DEFAULT_LANGUAGE) -> str:
    """A code as words (``mobile_topup`` -> 话费充值); a comma list word by word; missing ->
    ``—``; an unknown code as it is."""
    if code is None or (isinstance(code, float) and math.isnan(code)):
        return "—"
    text = str(code)
    if kind == "guardrail":
        names = [name.strip() for name in text.split(",") if name.strip()]
        if not names:
            return "—"
        return ("、" if lang == "zh" else ", ").join(
            code_label("_one_guardrail", n, lang) for n in names
        )
    labels = CODE_LABELS.get("guardrail" if kind == "_one_guardrail" else kind, {})
    if text not in labels:
        for pattern, (zh, en) in CODE_PATTERNS.get(kind, []):
            match = pattern.match(text)
            if match:
                return (en if lang == "en" else zh).format(**match.groupdict())
    zh, en = labels.get(text, (text, text))
    return en if lang == "en" else zh


def message_label(message: object, lang: str = DEFAULT_LANGUAGE) -> str:
    """A build message in the page language when it is one the pipeline writes."""
    if message is None or (isinstance(message, float) and math.isnan(message)):
        return "—"
    text = str(message)
    for pattern, (zh, en) in MESSAGE_PATTERNS:
        match = pattern.match(text)
        if match:
            return (en if lang == "en" else zh).format(**match.groupdict())
    return text


# chinese_calendar names its holidays in English.
HOLIDAY_NAMES = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "National Day": "国庆节",
    "Mid-autumn Festival": "中秋节",
    "Anti-Fascist 70th Day": "抗战胜利纪念日",
}


def column_label(column: str, lang: str = DEFAULT_LANGUAGE) -> str:
    zh, en = COLUMN_LABELS.get(column, (column, column))
    return en if lang == "en" else zh


def holiday_name(name: str, lang: str = DEFAULT_LANGUAGE) -> str:
    return name if lang == "en" else HOLIDAY_NAMES.get(name, name)


def t(key: str, lang: str = DEFAULT_LANGUAGE, **values: object) -> str:
    """1. Look the key up, 2. pick the language (unknown -> Chinese), 3. fill the placeholders."""
    zh, en = STRINGS[key]
    text = en if lang == "en" else zh
    return text.format(**values) if values else text


def money(amount: float | None, decimals: int = 2) -> str:
    """Yuan with thousands separators: ``¥1,234,567.89``; missing -> ``—``."""
    if amount is None or (isinstance(amount, float) and math.isnan(amount)):
        return "—"
    sign = "-" if amount < 0 else ""
    return f"{sign}¥{abs(float(amount)):,.{decimals}f}"


def percent(share: float | None, decimals: int = 1) -> str:
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return "—"
    return f"{float(share) * 100:.{decimals}f}%"


def duration(seconds: float | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """A delivery time a person reads at a glance: seconds, minutes or hours."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "—"
    seconds = float(seconds)
    if seconds < 120:
        return f"{seconds:.0f} 秒" if lang == "zh" else f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} 分钟" if lang == "zh" else f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} 小时" if lang == "zh" else f"{seconds / 3600:.1f} h"


def business_time(moment: datetime | None) -> str:
    """A timestamp as Asia/Shanghai wall time.

    Aware values are converted; naive ones are already Shanghai wall time, the warehouse's
    convention for every ``*_at`` column.
    """
    if moment is None:
        return "—"
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(BUSINESS_TZ))
    return moment.strftime("%Y-%m-%d %H:%M")


def business_date(day: date | datetime | None) -> str:
    if day is None:
        return "—"
    if isinstance(day, datetime):
        return business_time(day)[:10]
    return day.isoformat()
