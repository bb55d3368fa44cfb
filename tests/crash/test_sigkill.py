"""Real SIGKILLs: nothing acknowledged is lost and nothing executes twice.

Each cycle starts ``tests.harness.journal_driver`` on the same journal. The driver re-sends
its whole seeded stream from the first request, so everything answered before a crash is
sent again and must come back as the stored answer; it is SIGKILLed at a seeded random
moment, and the test process then recovers the journal like a restart and judges it
(``tests.harness.crash.Campaign.check``: recovery from a snapshot and from seq 1 with
every snapshot digest verified, every printed reply in the journal as printed, no request
journaled twice, repeats answered identically, money conserved). A last clean run must
answer every request of the stream exactly once.

``HCX_CRASH_CYCLES`` and ``HCX_CRASH_SEED`` change the default campaign; for a long one,
``scripts/crash_campaign.py``.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import attrs

from hcx.durability.idempotency import request_key
from hcx.durability.journal import Journal
from hcx.durability.records import chain_next, crc_of, decode_record, encode_record
from hcx.durability.replay import recover
from hcx.durability.snapshots import list_snapshots, read_snapshot, snapshot_dir
from hcx.engine import EngineConfig
from hcx.engine.plain import replace
from tests.harness.crash import Campaign
from tests.harness.journal_driver import setup_length, stream

CYCLES = int(os.environ.get("HCX_CRASH_CYCLES", "24"))
SEED = int(os.environ.get("HCX_CRASH_SEED", "20261124"))
# Snapshot liveness and start-up limits only; nothing here asserts how long anything takes.
WAIT_LIMIT_S = 60.0


def test_stream_is_deterministic_and_longer_streams_extend_it() -> None:
    short, long = stream(5, 400), stream(5, 900)
    assert short == long[:400] == stream(5, 400)
    assert len({(r.wallet, r.request_id) for r in long}) == 900
    assert [r.index for r in long] == list(range(900))
    assert stream(6, 400) != short


def test_sigkill_cycles_lose_nothing_and_execute_nothing_twice(tmp_path: Path) -> None:
    campaign = Campaign(db=str(tmp_path / "journal.db"), seed=SEED, count=6_000, workdir=tmp_path)
    rng = random.Random(SEED)
    results = []
    while campaign.kills < CYCLES and campaign.cycles < 3 * CYCLES:
        results.append(campaign.run_cycle(rng))
        assert not campaign.problems, "\n".join(campaign.problems[:20])

    assert campaign.kills >= CYCLES
    # The kills landed on real work: runs executed new requests before dying, restarts
    # re-answered old ones, and recovery started from snapshots the full replay verified.
    assert sum(r.new_replies for r in results if r.killed) > 0
    assert sum(r.replies - r.new_replies for r in results) > 0
    assert campaign.recoveries_from_snapshot > 0
    assert campaign.snapshots_verified > 0

    final = campaign.final_run()
    assert not campaign.problems, "\n".join(campaign.problems[:20])
    assert final.check is not None
    assert final.check.records == campaign.count


def test_a_snapshot_of_a_lost_commit_is_not_restored(tmp_path: Path) -> None:
    """Regression: the snapshotter forks at the moment a seq is applied, before it commits.

    A crash in between leaves a snapshot of a record that never became durable; the
    restart commits a different record at that seq (other timestamps, other order). That
    snapshot used to be restored once the journal grew past it, and the next start failed
    with "hash chain broken" on an intact journal.
    """
    campaign = Campaign(db=str(tmp_path / "journal.db"), seed=SEED, count=400, workdir=tmp_path)
    snapshots = snapshot_dir(campaign.db)
    ahead_seq = setup_length() + 5
    # Commits take a second each, so the snapshot child finishes long before its record
    # commits: SIGKILL the driver and the child as soon as the snapshot file exists.
    run = campaign.spawn("ahead", snapshot_every=ahead_seq, commit_delay_ms=1_000)
    deadline = time.monotonic() + WAIT_LIMIT_S
    while not list_snapshots(snapshots) and time.monotonic() < deadline:
        time.sleep(0.002)
    campaign.finish(run)
    [ahead] = list_snapshots(snapshots)
    info, _ = read_snapshot(ahead)
    journal = Journal(campaign.db)
    try:
        assert info.seq == ahead_seq > journal.last()[0]
    finally:
        journal.close()

    # A restart that takes no snapshot there (another snapshot_every) commits other
    # records at that seq and beyond, then dies too.
    run = campaign.spawn("behind", snapshot_every=10**9)
    went_past = run.wait_until(lambda line: line.get("seq", 0) > ahead_seq + 20, WAIT_LIMIT_S)
    campaign.finish(run)
    assert not campaign.problems, "\n".join(campaign.problems)
    assert went_past
    # The stale snapshot file is still there to tempt the next restart, which must recover.
    assert ahead in list_snapshots(snapshots)
    run = campaign.spawn("restart")
    started = run.wait_for_new_execution(WAIT_LIMIT_S)
    campaign.finish(run)
    assert not campaign.problems, "\n".join(campaign.problems)
    assert started


def test_the_judge_sees_a_lost_reply_a_changed_answer_and_a_double_execution(
    tmp_path: Path,
) -> None:
    """The checks are not vacuous: each kind of broken promise is reported."""
    campaign = Campaign(db=str(tmp_path / "journal.db"), seed=SEED, count=200, workdir=tmp_path)
    campaign.final_run()
    assert not campaign.problems, "\n".join(campaign.problems)

    # An acknowledged reply the journal does not hold, and one it holds differently.
    key = next(iter(campaign.answers))
    original = campaign.answers[key]
    campaign.answers[("trader0", "never-journaled")] = attrs.evolve(original, seq=10**6)
    campaign.answers[key] = attrs.evolve(original, result=[*original.result[:-1], -1])
    campaign.check("forged")
    assert any("LOST seq 1000000" in p for p in campaign.problems)
    assert any(f"seq {original.seq} acknowledged as" in p for p in campaign.problems)
    campaign.answers[key] = original
    del campaign.answers[("trader0", "never-journaled")]

    # A request executed a second time: a well-formed record re-applying it at the end.
    campaign.problems.clear()
    journal = Journal(campaign.db)
    try:
        recovered = recover(journal, snapshot_dir(campaign.db), EngineConfig())
        last = recovered.last_seq
        row = journal.read(last)
        assert row is not None
        record = decode_record(row[3])
        envelope = replace(record.envelope(), seq=last + 1, ts_ms=record.ts + 1)
        blob = encode_record(envelope, record.client_ts, recovered.engine.apply(envelope))
        chain = chain_next(recovered.chain, blob)
        key_hash = request_key(record.wallet, record.request_id)
        journal.append([(last + 1, record.ts + 1, key_hash, blob, crc_of(blob), chain)])
    finally:
        journal.close()
    campaign.check("doubled")
    assert any("executed twice" in p for p in campaign.problems), campaign.problems
