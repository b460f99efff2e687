"""``cardpulse users add|list|remove``: dashboard accounts in ``$CARDPULSE_HOME/users.json``.

Passwords come from ``--password``, an interactive prompt, or are generated and printed once;
only their argon2 hash is stored.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from pipelines.errors import CardPulseError

HELP = "manage dashboard sign-in: users add NAME --role ROLE [--merchant ID], list, remove NAME"
ROLES = ("merchant", "ops", "pricing", "admin")
DEMO_ACCOUNTS = (
    ("demo-merchant", "merchant"),
    ("demo-ops", "ops"),
    ("demo-pricing", "pricing"),
    ("demo-admin", "admin"),
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create an account")
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument(
        "--merchant", default=None, help="merchant_id a merchant user may see (with its sub-agents)"
    )
    add.add_argument(
        "--agent",
        default=None,
        help="agent_id (sub-site) of that merchant: the user then sees only that agent's sales",
    )
    add.add_argument(
        "--password",
        default=None,
        help="the password (default: prompt, or generate one when not a terminal)",
    )
    add.add_argument(
        "--generate-password", action="store_true", help="generate a password and print it once"
    )
    actions.add_parser("list", help="list accounts (never passwords)")
    remove = actions.add_parser("remove", help="delete an account")
    remove.add_argument("name")


def _store(home=None):
    from dashboard.auth import UserStore
    from pipelines.settings import home as current_home

    return UserStore((home or current_home()).users_file)


def _snapshot_knows_merchant(merchant_id: str) -> bool | None:
    """Check a merchant id against the published snapshot, when there is one to read."""
    from pipelines.settings import home

    snapshot = home().snapshot
    if not snapshot.exists():
        return None
    import duckdb

    from dashboard.data import access
    from dashboard.data.snapshot import connect

    try:
        conn = connect(snapshot)
    except duckdb.Error:
        return None
    try:
        return access.merchant_exists(conn, merchant_id)
    finally:
        conn.close()


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password and whether it was generated (and so must be printed)."""
    from dashboard.auth import generate_password

    if args.password is not None:
        return args.password, False
    if args.generate_password or not sys.stdin.isatty():
        return generate_password(), True
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        raise CardPulseError("the two passwords differ")
    return first, False


def add(args: argparse.Namespace) -> int:
    from dashboard.auth import validate_name, validate_role

    validate_name(args.name)
    validate_role(args.role, args.merchant)
    if args.merchant and _snapshot_knows_merchant(args.merchant) is False:
        raise CardPulseError(f"unknown merchant {args.merchant!r}: it is not in the published data")
    agent = getattr(args, "agent", None)
    if agent and args.role != "merchant":
        raise CardPulseError(f"--agent applies only to the merchant role, not {args.role!r}")
    password, generated = _password(args)
    user = _store().add(args.name, args.role, password, args.merchant, agent_id=agent)
    scope = f" (merchant {user.merchant_id})" if user.merchant_id else ""
    if user.agent_id:
        scope = f" (merchant {user.merchant_id}, agent {user.agent_id} only)"
    print(f"added {user.name}: {user.role}{scope}")
    if generated:
        print(f"password: {password}  (shown once; it is stored only as a hash)")
    return 0


def list_users(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    users = _store().users()
    if not users:
        print("no users yet: cardpulse users add NAME --role admin")
        return 0
    now = datetime.now(UTC)
    print(f"{'name':<24} {'role':<9} {'merchant':<12} {'created':<25} status")
    for user in sorted(users.values(), key=lambda u: u.name):
        locked = user.locked_until and datetime.fromisoformat(user.locked_until) > now
        status = f"locked until {user.locked_until[:19]}" if locked else "active"
        print(
            f"{user.name:<24} {user.role:<9} {user.merchant_id or '-':<12} "
            f"{user.created_at:<25} {status}"
        )
    return 0


def remove(args: argparse.Namespace) -> int:
    _store().remove(args.name)
    print(f"removed {args.name}")
    return 0


def run(args: argparse.Namespace) -> int:
    actions = {"add": add, "list": list_users, "remove": remove}
    return actions[args.users_action](args)


def ensure_demo_users(home) -> list[tuple[str, str, str, str | None]]:
    """One demo account per role with a fresh password, for `cardpulse demo` to print.

    1. Pick the merchant for the merchant account from the published snapshot (a top-level
       merchant with the most sub-agents); without a snapshot there is no merchant account.
    2. (Re)create each account with a new generated password, since stored hashes cannot be
       shown again. Returns ``(name, role, password, merchant_id)`` rows.
    """
    from dashboard.auth import generate_password
    from dashboard.data import access
    from dashboard.data.snapshot import connect
    from pipelines.settings import Home

    home = home if isinstance(home, Home) else Home(Path(os.fspath(home)).resolve())
    merchant_id = None
    if home.snapshot.exists():
        conn = connect(home.snapshot)
        try:
            merchant_id = access.first_merchant(conn)
        finally:
            conn.close()
    store = _store(home)
    accounts = []
    for name, role in DEMO_ACCOUNTS:
        if role == "merchant" and merchant_id is None:
            continue
        password = generate_password()
        store.add(name, role, password, merchant_id if role == "merchant" else None, replace=True)
        accounts.append((name, role, password, merchant_id if role == "merchant" else None))
    return accounts
