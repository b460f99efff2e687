"""``cardpulse notify``: try a channel, see and work the outbox, send a report now."""

from __future__ import annotations

import argparse

from pipelines.errors import CardPulseError

HELP = "alert channels and the outbox: test a channel, send what is due, list, retry, reports"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = actions.add_parser("test", help="send a test message through CHANNEL, print the answer")
    test.add_argument("channel", metavar="CHANNEL", help="a channel name in cardpulse.toml")
    actions.add_parser("send", help="send the outbox's due messages now (retries included)")
    listing = actions.add_parser("list", help="the outbox's newest messages and their status")
    listing.add_argument("--limit", type=int, default=20)
    again = actions.add_parser("retry", help="send a failed or interrupted message again")
    again.add_argument("message_key", metavar="KEY")
    report = actions.add_parser("report", help="render and e-mail a scheduled report now")
    report.add_argument("name", choices=("weekly_merchant", "daily_ops"))
    report.add_argument("--date", metavar="YYYY-MM-DD", default=None,
                        help="the report's day (default: today in Asia/Shanghai)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from pipelines.notify.dispatch import load_config

    config = load_config()
    if args.action == "test":
        return _test(config, args.channel)
    if args.action == "report":
        from pipelines.notify.reports import send_report

        print(send_report(args.name, config, day=args.date))
        return 0
    with _warehouse() as conn:
        from pipelines.notify import outbox

        if args.action == "send":
            print(outbox.deliver(conn, config).line())
        elif args.action == "list":
            _list(conn, args.limit)
        elif args.action == "retry":
            if not outbox.retry(conn, args.message_key):
                raise CardPulseError(f"no failed or interrupted message {args.message_key!r}")
            print(outbox.deliver(conn, config).line())
    return 0


def _test(config, channel_name: str) -> int:
    import datetime as dt

    from pipelines.notify import channels

    channel = config.channel(channel_name)
    stamp = dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
    message = channels.Message(
        title="CardPulse 测试消息 / test message",
        text=f"- 通道 channel: **{channel.name}** ({channel.type})\n- 时间 time: {stamp}\n"
        "- 收到即表示配置正确。If you read this, the channel works.",
    )
    answer = channels.send(channel, message)
    print(f"{channel.name} ({channel.type}): {answer.detail}")
    if not answer.ok:
        raise CardPulseError(f"channel {channel.name} did not accept the test message")
    return 0


def _list(conn, limit: int) -> None:
    from pipelines.notify.outbox import OUTBOX_TABLE, ensure_outbox

    ensure_outbox(conn)
    rows = conn.execute(
        f"""SELECT created_at, status, attempts, channel, kind, title, last_answer, message_key
            FROM {OUTBOX_TABLE} ORDER BY created_at DESC, message_key LIMIT ?""",
        [limit],
    ).fetchall()
    if not rows:
        print("the outbox is empty")
    for created, status, attempts, channel, kind, title, answer, key in rows:
        print(f"{created:%Y-%m-%d %H:%M}  {status:<11} x{attempts}  {channel:<12} {kind:<12} "
              f"{title}")  # fmt: skip
        if status in ("failed", "interrupted") and answer:
            print(f"    {answer[:160]}  (retry: cardpulse notify retry '{key}')")


def _warehouse():
    import duckdb

    from pipelines.commands.build_run import locked_message
    from pipelines.settings import home

    warehouse = home().warehouse
    if not warehouse.exists():
        raise CardPulseError(f"no warehouse at {warehouse}: run `cardpulse build` first")
    try:
        return duckdb.connect(str(warehouse))
    except duckdb.IOException as error:
        raise CardPulseError(locked_message(warehouse, str(error))) from None
