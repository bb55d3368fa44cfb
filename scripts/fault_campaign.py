"""A long fault-injection campaign: many random storage faults, each judged after restart.

Each cycle takes a fresh journal file through one to three rounds. A round drives the
exchange (``group`` or ``sync``, random concurrency, checkpoint interval and snapshot
period) over a ``FaultyVFS`` armed with one random fault: a failed fsync, a full disk, a
power cut after a random number of writes, or a power cut from a timer. After the crash
the unsynced writes are dropped (all of them, or a random torn subset) or kept, and
``tests.harness.fault_scenarios.verify`` reads the file back with the ordinary VFS; most
rounds then re-send every request (``retry_all``). The next round reopens the same file,
so crashes pile up on one journal as they would in production.

    .venv/bin/python scripts/fault_campaign.py --cycles 50 --seed 1

Prints one line per failing round (with what to re-run) and a summary line; exits 1 if
anything was lost, duplicated or otherwise wrong.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import attrs
import trio
from tests.harness.fault_scenarios import (
    Run,
    Verdict,
    retry_all,
    run_until_fault,
    service_config,
    verify,
)
from tests.harness.faulty_vfs import FaultPlan, FaultyVFS

from hcx.service.config import DurabilityMode

KINDS = ("fsync", "disk_full", "power_cut", "power_timer")


@attrs.define
class Totals:
    cycles: int = 0
    rounds: int = 0
    faults: int = 0
    replies: int = 0
    published: int = 0
    lost: int = 0
    duplicated: int = 0
    failed_rounds: int = 0
    by_kind: dict[str, int] = attrs.Factory(dict)


def plan_for(kind: str, rng: random.Random) -> FaultPlan:
    die = rng.random() < 0.7
    if kind == "fsync":
        return FaultPlan(fail_sync_after=rng.randrange(0, 60), die_on_fault=die)
    if kind == "disk_full":
        return FaultPlan(fail_write_after=rng.randrange(0, 300), die_on_fault=die)
    if kind == "power_cut":
        return FaultPlan(cut_power_after=rng.randrange(0, 500))
    return FaultPlan()


async def one_round(db: str, rng: random.Random, stream_seed: int) -> tuple[str, Run, Verdict]:
    kind = rng.choice(KINDS)
    mode: DurabilityMode = rng.choice(("group", "sync"))
    config = service_config(
        db,
        mode,
        checkpoint_interval_s=rng.choice((0.002, 0.02, 1.0)),
        snapshot_every=rng.choice((25, 100, 100_000)),
    )
    vfs = FaultyVFS()
    plan = plan_for(kind, rng)
    async with trio.open_nursery() as nursery:
        if kind == "power_timer":
            delay = rng.uniform(0.005, 0.25)

            async def cut_later() -> None:
                while not vfs.armed:  # the setup is done
                    await trio.sleep(0.001)
                await trio.sleep(delay)
                vfs.cut_power()

            nursery.start_soon(cut_later)
        run = await run_until_fault(
            db,
            mode,
            plan,
            seed=stream_seed,
            count=rng.randint(100, 800),
            concurrency=rng.randint(1, 8),
            vfs=vfs,
            config=config,
        )
        nursery.cancel_scope.cancel()
    if kind.startswith("power") or rng.random() < 0.5:
        vfs.power_loss(rng, keep_probability=rng.choice((0.0, 0.0, 0.3, 0.8)))
    verdict = verify(run)
    if rng.random() < 0.7 and not verdict.problems:
        retry_config = service_config(db, mode, snapshot_every=rng.choice((25, 100, 100_000)))
        await retry_all(run, verdict, config=retry_config)
    return kind, run, verdict


async def campaign(cycles: int, seed: int, workdir: Path, verbose: bool) -> Totals:
    totals = Totals()
    for cycle in range(cycles):
        rng = random.Random(f"{seed}-{cycle}")
        db = str(workdir / f"cycle-{cycle}.db")
        cycle_ok = True
        for round_ in range(rng.randint(1, 3)):
            stream_seed = (seed * 100_000 + cycle) * 10 + round_
            kind, run, verdict = await one_round(db, rng, stream_seed)
            totals.rounds += 1
            if run.vfs.fired:
                totals.faults += 1
                totals.by_kind[kind] = totals.by_kind.get(kind, 0) + 1
            totals.replies += verdict.replies_checked
            totals.published += verdict.published_checked
            totals.lost += verdict.lost
            totals.duplicated += verdict.duplicated
            if verdict.problems:
                cycle_ok = False
                totals.failed_rounds += 1
                print(
                    f"FAIL cycle {cycle} round {round_} (--seed {seed}, {kind}, {run.mode}, "
                    f"{run.plan}, fault: {run.vfs.fault}; journal kept at {db}):"
                )
                for problem in verdict.problems[:10]:
                    print(f"    {problem}")
            elif verbose:
                print(
                    f"cycle {cycle} round {round_}: {kind:<11} {run.mode:<5} "
                    f"fault={run.vfs.fault!s:.70} replies={verdict.replies_checked} "
                    f"journal={verdict.journal_records}"
                )
        totals.cycles += 1
        if cycle_ok:
            for path in workdir.glob(f"cycle-{cycle}.db*"):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="kept; default: a temp dir")
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        totals = trio.run(campaign, args.cycles, args.seed, args.workdir, args.verbose)
    else:
        with tempfile.TemporaryDirectory(prefix="hcx-faults-") as tmp:
            totals = trio.run(campaign, args.cycles, args.seed, Path(tmp), args.verbose)
            if totals.failed_rounds:
                kept = Path(tempfile.mkdtemp(prefix="hcx-faults-failed-"))
                shutil.copytree(tmp, kept, dirs_exist_ok=True)
                print(f"failing journals copied to {kept}")
    kinds = ", ".join(f"{kind} {totals.by_kind.get(kind, 0)}" for kind in KINDS)
    print(
        f"({totals.rounds} rounds in {time.perf_counter() - started:.1f}s; faults by kind: "
        f"{kinds}; {totals.published} publications checked; "
        f"{totals.failed_rounds} failing rounds)"
    )
    print(
        f"fault campaign: {totals.cycles} cycles, {totals.faults} faults injected, "
        f"{totals.replies} replies checked, lost={totals.lost}, "
        f"duplicated={totals.duplicated}"
    )
    return 1 if totals.failed_rounds or totals.lost or totals.duplicated else 0


if __name__ == "__main__":
    sys.exit(main())
