"""`cardpulse users ...` run as a real subprocess, and the demo-account helper."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dashboard_fixtures as fx
import pytest

from dashboard import auth
from dashboard.users_command import ensure_demo_users
from pipelines.settings import Home

PROJECT = Path(__file__).resolve().parent.parent


def cardpulse(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, CARDPULSE_HOME=str(home))
    return subprocess.run(
        [sys.executable, "-m", "pipelines.cli", *args],
        cwd=PROJECT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    home = tmp_path_factory.mktemp("published")
    fx.build_snapshot(home / "snapshot.duckdb")
    return home


def test_add_list_remove(tmp_path):
    fx.build_snapshot(tmp_path / "snapshot.duckdb")
    added = cardpulse(
        tmp_path,
        "users",
        "add",
        "shop",
        "--role",
        "merchant",
        "--merchant",
        "M001",
        "--password",
        "long-enough-1",
    )
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "added shop: merchant (merchant M001)"
    # Not a terminal and no --password: a password is generated and printed once.
    generated = cardpulse(tmp_path, "users", "add", "root", "--role", "admin")
    assert generated.returncode == 0, generated.stderr
    password = generated.stdout.split("password: ")[1].split()[0]
    store = auth.UserStore(tmp_path / "users.json")
    assert store.authenticate("root", password).reason == "ok"
    assert password not in (tmp_path / "users.json").read_text()

    listed = cardpulse(tmp_path, "users", "list")
    assert listed.returncode == 0
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [
        ("root", "admin", "-"),
        ("shop", "merchant", "M001"),
    ]
    assert "argon2" not in listed.stdout

    removed = cardpulse(tmp_path, "users", "remove", "shop")
    assert removed.returncode == 0 and removed.stdout.strip() == "removed shop"
    assert set(json.loads((tmp_path / "users.json").read_text())["users"]) == {"root"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["add", "x", "--role", "merchant", "--password", "long-enough-1"], "needs --merchant"),
        (
            ["add", "x", "--role", "merchant", "--merchant", "M999", "--password", "long-enough-1"],
            "unknown merchant 'M999'",
        ),
        (["add", "x", "--role", "ops", "--password", "short"], "password too short"),
        (["add", "bad name!", "--role", "ops", "--password", "long-enough-1"], "invalid user name"),
        (["remove", "ghost"], "no user named 'ghost'"),
    ],
)
def test_mistakes_are_one_line_errors(published, args, message):
    result = cardpulse(published, "users", *args)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_role_is_an_argparse_error(tmp_path):
    result = cardpulse(tmp_path, "users", "add", "x", "--role", "root")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_demo_users_one_per_role_bound_to_a_real_merchant(tmp_path):
    fx.build_snapshot(tmp_path / "snapshot.duckdb")
    accounts = ensure_demo_users(Home(tmp_path))
    assert sorted(role for _, role, _, _ in accounts) == ["admin", "merchant", "ops", "pricing"]
    merchant = next(a for a in accounts if a[1] == "merchant")
    assert merchant[3] == "M001"  # top-level merchant with the most sub-agents
    store = auth.UserStore(tmp_path / "users.json")
    for name, role, password, merchant_id in accounts:
        user = store.authenticate(name, password).user
        assert (user.role, user.merchant_id) == (role, merchant_id)
    # Running the demo again issues fresh passwords that work (old ones cannot be shown).
    again = ensure_demo_users(tmp_path)
    assert store.authenticate(again[0][0], again[0][2]).reason == "ok"


def test_demo_users_without_a_snapshot_skip_the_merchant(tmp_path):
    accounts = ensure_demo_users(Home(tmp_path))
    assert sorted(role for _, role, _, _ in accounts) == ["admin", "ops", "pricing"]
