"""The structure of what each documented program prints: the lines a reader of the
documents expects, with any figures in them; never a speed or a count's value.

Each check takes the command as run and its stdout, and fails naming what is missing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

Check = Callable[[str, str], None]  # (command as run, stdout)


def lines(*patterns: str) -> Check:
    def check(command: str, out: str) -> None:
        for pattern in patterns:
            assert re.search(pattern, out, re.M), f"{pattern!r} not in the output of {command}"

    return check


def engine(command: str, out: str) -> None:
    lines(
        r"^stream: \d+ commands \(",
        r"^apply: +[\d,]+ commands/s",
        r"^latency per apply: p50 [\d.]+ us, p99 [\d.]+ us, p99\.9 [\d.]+ us$",
        r"^trades \d+, cancels ok \d+, replaces ok \d+$",
        r"^state digest [0-9a-f]{64}$",
    )(command, out)
    if "--resting 0" not in command:
        lines(r"^memory: [\d.]+ MB retained for \d+ resting orders")(command, out)
    if "--json" in command:
        figures = json.loads(out.strip().splitlines()[-1])
        assert figures["commands"] > 0, figures


def durability(command: str, out: str) -> None:
    # ``--modes`` given nothing runs no mode (the restart figures alone).
    chosen = re.search(r"--modes((?: +(?:memory|group|sync))*)(?: +--|$)", command)
    modes = chosen.group(1).split() if chosen else ["memory", "group", "sync"]
    for mode in modes:
        lines(rf"^ *{mode} throughput: +[\d,]+ commands/s", rf"^ *{mode} latency: +p50 ")(
            command, out
        )
    if "--restart-records 0" not in command:
        lines(r"^restart, best case:", r"^restart, worst case:")(command, out)
    if "--window-seconds 0" not in command:
        lines(r"^idempotency window:")(command, out)
    goals = re.findall(r"^(PASS|MISS)  ", out, re.M)
    assert len(goals) >= (6 if len(modes) == 3 else 1), out
    if "--json" in command:
        figures = json.loads(out.strip().splitlines()[-1])
        assert set(figures["modes"]) == set(modes)
        assert figures["replay_records"] > 0 and figures["window_keys"] > 0


def ws(command: str, out: str) -> None:
    crowd = (
        r"^  crowd: [\d,]+ orders/s alone, [\d,]+ with \d+ idle connections and \d+ book "
        r"subscribers \(cost -?[\d.]+%\); each subscriber read [\d,]+ to [\d,]+ book updates, "
        r"gaps 0, cut off 0$"
    )
    cpu = (
        r"^  crowd: server CPU [\d,]+ us an order alone, [\d,]+ us with the bystanders "
        r"\([-+]\d+%\); the bystanders' own share -?[\d.]+ of a core; load average [\d.]+ on "
        r"\d+ cores$"
    )
    phases = re.search(r"--phases +(\S+)", command)
    if phases is None or "crowd" in phases.group(1).split(","):
        lines(crowd, cpu)(command, out)
    else:
        assert "crowd:" not in out
    if "--phases crowd" in command:
        assert "single:" not in out and "bulk50:" not in out
    else:
        lines(
            r"^ single: [\d,]+ orders/s; at half rate: p50 [\d.]+ ms, p99 [\d.]+ ms$",
            r"^ bulk50: [\d,]+ orders/s; at half rate: p50 [\d.]+ ms, p99 [\d.]+ ms$",
        )(command, out)


def simulator(command: str, out: str) -> None:
    rows = out.splitlines()
    assert rows[0].split() == ["agent", "cash", "P&L", "volume", "fees"], out
    assert [row.split()[0] for row in rows[1:6]] == [
        "maker",
        "noise-1",
        "noise-2",
        "noise-3",
        "rfq-taker",
    ], out
    lines(r"^index settled at [\d.]+; \d+ RFQ blocks, \d+ MMP trips; ", r"^state digest ")(
        command, out
    )


def replay(command: str, out: str) -> None:
    lines(
        r"^records replayed: \d+ \(from snapshot at seq \d+\)$",
        r"^final seq: [1-9]\d*$",
        r"^digest: [0-9a-f]{64}$",
        r"^time: [\d.]+s \([\d,]+ records/s\)$",
    )(command, out)


def backup(command: str, out: str) -> None:
    target = re.search(r"^copied \d+ pages to (\S+)$", out, re.M)
    assert target, out
    if "--to" not in command:
        assert re.fullmatch(r"hcx-backup-\d{8}T\d{6}Z\.db", target.group(1)), target.group(1)
    if "--verify" in command:
        replay(command, out)


def sim_bench(command: str, out: str) -> None:
    lines(
        r"^\d+ commands; the fastest of \d+ rounds; calls \(or commands\) per second$",
        r"^engine_bench apply rate \(summed apply times\): +[\d,]+$",
        r"^engine apply loop +[\d,]+ +[\d,]+ +[\d.]+ +[\d.]+$",
        r"^Simulator, no journal +[\d,]+ +[\d,]+ +[\d.]+ +[\d.]+$",
        r"^Simulator, file journal +[\d,]+ +[\d,]+ +[\d.]+ +[\d.]+$",
        r"^state digest [0-9a-f]{64}$",
    )(command, out)
    if "--open-exchange 0" not in command:
        lines(r"^open_exchange, memory +[\d,]+ +[\d,]+ +\(Simulator: ")(command, out)
    if "--examples" in command:
        for name in ("examples/simulator.py", "backtest"):
            lines(rf"^{re.escape(name)} +Simulator +[\d.]+ s wall .*; open_exchange +[\d.]+ s")(
                command, out
            )


def protocol_bench(command: str, out: str) -> None:
    lines(
        r"^cancel-on-disconnect, \d+ orders, client SIGKILLed \(\d+ runs\):$",
        r"^  kill -> last cancel: median [\d.]+ ms, max [\d.]+ ms$",
        r"^cancel-on-disconnect, client frozen by SIGSTOP, ",
        r"^  stop -> last cancel: median [\d.]+ ms, max [\d.]+ ms \(the heartbeat finds ",
    )(command, out)
    for encoding in ("JSON", "CBOR"):
        for path in ("bare socket", "hcx.client"):
            lines(
                rf"^GetTrades of 1,000 trades, {encoding}, {re.escape(path)} \(\d+ requests\): "
                r"median [\d.]+ ms, p90 [\d.]+ ms, max [\d.]+ ms$"
            )(command, out)


def backtest(command: str, out: str) -> None:
    lines(
        r"^\d+ order events in [\d.]+ s \([\d,]+ events/s\)$",
        r"^outcomes: (\w+ \d+)(, \w+ \d+)*$",
        r"^traders' cash P&L sums to -?[\d,]+\.\d\d \(= -fees\)$",
        r"^state digest [0-9a-f]{64}$",
    )(command, out)
    if "--via open_exchange" not in command:
        lines(r"^[1-9]\d* trades; export them with: hcx export --db FILE trades$")(command, out)


def export_trades_csv(command: str, out: str) -> None:
    header = "symbol,trade_id,price,size,taker_side,ts,seq"
    assert f"\n{header}\n" in f"\n{out}", out
    rows = out[out.index(header) :].splitlines()  # after what a setup printed
    assert len(rows) > 1, f"{command} exported no trades"
    for row in rows[1:]:
        assert re.fullmatch(
            r"[A-Z]+-\d{8}-[\d.]+-[CP],\d+,[\d.]+,[\d.]+,(buy|sell),\d+,\d+", row
        ), row
