"""``hcx admin`` against a real ``hcx serve --auth keys``: every action, its exit codes,
and a refused one leaves the journal as it was."""

from __future__ import annotations

import subprocess
import sys
import time
from decimal import Decimal

import pytest
import trio

import hcx.client
from hcx.admin_cli import default_symbol, expiry_ms
from tests.e2e.conftest import Server
from tests.e2e.market import EXPIRY_MS, SYMBOL


def admin(server: Server, *args: str, wallet: str = "admin") -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "hcx.cli", "admin", "--url", server.url]
    command += ["--wallet", wallet, "--key", server.keys[wallet], *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def ok(server: Server, *args: str) -> str:
    done = admin(server, *args)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


async def place(server: Server) -> hcx.client.OrderResult:
    async with hcx.client.connect(server.url, wallet="alice", key=server.keys["alice"]) as alice:
        return await alice.place_order(SYMBOL, "buy", "10", "2")


async def test_admin_cli_runs_a_market(keyed_server: Server) -> None:
    server = keyed_server
    terms = ["--underlying", "BTC", "--strike", "3000", "--option", "call"]
    terms += ["--tick", "0.1", "--lot", "1"]
    assert ok(server, "list", "--expiry", str(EXPIRY_MS), *terms).startswith(
        "CreateInstrument ok seq "
    )
    # Listing again with the same terms is ok (the contract's MARKET_ALREADY_EXISTS).
    assert ok(server, "list", "--expiry", str(EXPIRY_MS), *terms).startswith("CreateInstrument ok")
    assert ok(server, "index", "BTC", "3000", "--vol", "0.6").startswith("SetIndexPrice ok")
    assert ok(server, "deposit", "alice", "1000000").startswith("Deposit ok")

    assert ok(server, "halt", SYMBOL).startswith("HaltInstrument ok")
    with trio.fail_after(30):
        halted = await place(server)
    assert (halted.status, halted.reason) == ("rejected", "instrument_not_active")
    assert f"{SYMBOL}  halted" in ok(server, "instruments")
    assert ok(server, "resume", SYMBOL).startswith("ResumeInstrument ok")
    with trio.fail_after(30):
        resumed = await place(server)
    assert resumed.status == "open"
    shown = ok(server, "instruments")
    assert f"{SYMBOL}  active  BTC call strike 3000  expiry 2030-12-31 00:00Z" in shown
    book = ok(server, "book", SYMBOL).splitlines()
    assert book[0].startswith(f"{SYMBOL} book seq ")
    assert book[1].split() == ["bid", "10", "2"]

    # Not expired: the engine's rejection, exit code 1 and the reason.
    refused = admin(server, "settle", SYMBOL, "3100")
    assert refused.returncode == 1
    assert refused.stdout.startswith("Settle rejected") and "reason not_expired" in refused.stdout

    # An option expiring in a moment (the date form of --expiry means 08:00 UTC), then
    # settled once expired.
    soon = str(int(time.time() * 1000) + 1_500)
    terms[3] = "3100"
    soon_symbol = default_symbol("BTC", int(soon), Decimal("3100"), "call")
    listed = ok(server, "list", "--expiry", soon, *terms)
    assert listed.startswith("CreateInstrument ok")
    time.sleep(2.0)
    assert ok(server, "settle", soon_symbol, "3200").startswith("Settle ok")
    assert f"{soon_symbol}  settled" in ok(server, "instruments")


def test_admin_cli_refusals_leave_no_journal_record(keyed_server: Server) -> None:
    server = keyed_server
    # A trader's key: the server refuses the command as forbidden.
    forbidden = admin(server, "halt", SYMBOL, wallet="alice")
    assert forbidden.returncode == 6 and "forbidden" in forbidden.stderr
    # Bad input never leaves the command line ...
    for args in (
        ("deposit", "alice", "lots"),
        (
            "list",
            "--underlying",
            "BTC",
            "--expiry",
            "someday",
            "--strike",
            "1",
            "--option",
            "call",
            "--tick",
            "1",
            "--lot",
            "1",
        ),
    ):
        done = admin(server, *args)
        assert done.returncode == 2, (args, done.stderr)
    # ... and names the argument at fault.
    bad = admin(server, "deposit", "alice", "0.0000001")
    assert bad.returncode == 2 and "amount" in bad.stderr and "6 decimal places" in bad.stderr
    server.stop()
    assert server.records() == []


def test_admin_cli_unreachable(tmp_path: object) -> None:
    command = [sys.executable, "-m", "hcx.cli", "admin", "--url", "ws://127.0.0.1:9/ws"]
    done = subprocess.run([*command, "instruments"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 6 and "cannot reach" in done.stderr


@pytest.mark.parametrize("text", ["2026-12-25"])
def test_expiry_date_means_eight_utc(text: str) -> None:
    from decimal import Decimal

    from hcx.admin_cli import default_symbol

    assert expiry_ms(text) == 1_798_185_600_000
    assert default_symbol("ETH", expiry_ms(text), Decimal("3000.0"), "put") == "ETH-20261225-3000-P"
