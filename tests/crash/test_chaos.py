"""Real SIGKILLs of ``hcx serve`` under trading clients: nothing answered is lost, nothing
executes twice.

``tests.harness.chaos.ChaosCampaign`` starts a real ``hcx serve`` subprocess, lets a few
wallets trade on it with ``hcx.client`` (crossing orders, cancels, replaces, bulk orders,
cancel-alls, withdrawals, deposits) and SIGKILLs it, mostly with its snapshot children,
at seeded random moments, restarting it on the same journal each time. The clients
reconnect and re-send what was unanswered with the same request_id and ts. After every
kill the journal is judged: every answer ever received is the record at its seq, no
request is in the journal twice, money is conserved, no book is crossed, replay from a
snapshot and from seq 1 agree and match every snapshot's digest, and each wallet's
``orders`` and ``fills`` channels (resumed with ``from_seq`` after every reconnect) have
delivered a prefix of its events in the journal. At the end everything sent must have
been answered and journaled exactly once, the channels must have delivered all of the
journal's events, and ``hcx replay --verify`` must reach the same digest.

``HCX_CHAOS_CYCLES`` and ``HCX_CHAOS_SEED`` change the default campaign; for a long one,
``scripts/chaos.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import attrs
import trio

from tests.harness.chaos import ChaosCampaign, render_stored
from tests.harness.crash import ProblemCounts

CYCLES = int(os.environ.get("HCX_CHAOS_CYCLES", "20"))
SEED = int(os.environ.get("HCX_CHAOS_SEED", "20261125"))


def test_sigkilled_server_loses_no_answer_and_executes_nothing_twice(tmp_path: Path) -> None:
    with open(tmp_path / "chaos.jsonl", "w") as log:
        campaign = ChaosCampaign(
            db=str(tmp_path / "hcx.db"),
            seed=SEED,
            workdir=tmp_path,
            clients=3,
            connections_per_wallet=2,
            snapshot_every=150,
            early_kill_chance=0.1,
            early_kill_max_s=0.5,
            run_max_s=0.3,
            log=log,
        )
        trio.run(campaign.run, CYCLES)
    assert not campaign.problems, "\n".join(campaign.problems[:20])
    assert campaign.kills >= CYCLES

    # The kills landed on real work: servers died after executing new requests, with
    # requests in flight that the clients re-sent, and restarts recovered from snapshots
    # that the full replay verified.
    assert campaign.kills_after_new_work > 0
    assert campaign.outstanding_at_kills > 0
    assert campaign.resent > 0
    assert campaign.recoveries_from_snapshot > 0
    assert campaign.snapshots_verified > 0
    kinds = campaign.ledger.answered_by_kind
    for kind in ("PlaceOrder", "CancelOrder", "ReplaceOrder", "Withdraw", "Deposit"):
        assert kinds[kind] > 0, kinds
    assert campaign.bulks > 0
    assert campaign.repeats > 0
    # Orders named the late series before it was listed, and kept their rejection.
    assert campaign.late_listed
    assert any("reason='unknown_symbol'" in a.result for a in campaign.ledger.answers.values())

    # Each wallet's orders and fills channels, resumed by the client after every kill,
    # delivered exactly the journal's events for it: none lost, none twice, in order.
    assert all(actor.seen["orders"] and actor.seen["fills"] for actor in campaign.actors)

    # The end state: everything sent was answered and is in the journal exactly once.
    final = campaign.final_check
    assert final is not None
    assert final.records == len(campaign.ledger.sent) == len(campaign.ledger.answers)
    assert campaign.replay_digest == final.digest
    assert campaign.summary().endswith("lost=0, duplicated=0, money ok, digest ok")

    # The judge is not vacuous on the client's side of the comparison either: an answer
    # that differs from its record in one field is reported.
    key, answer = next(
        (k, a) for k, a in campaign.ledger.answers.items() if "OrderResult" in a.result
    )
    campaign.ledger.answers[key] = attrs.evolve(
        answer, result=answer.result.replace("seq=", "seq=1", 1)
    )
    campaign.judge("forged")
    assert ProblemCounts.of(campaign.problems).lost == 1, campaign.problems
    # ... and so is a fill delivered twice.
    campaign.problems.clear()
    campaign.ledger.answers[key] = answer
    fills = campaign.actors[0].seen["fills"]
    fills.insert(1, fills[0])
    campaign.check_streams("forged", final.last_seq, complete=True)
    assert len(campaign.problems) == 1 and "STREAM" in campaign.problems[0], campaign.problems


def test_stored_results_render_as_the_client_parses_them() -> None:
    stored = [
        "BalanceResult",
        "request-1",
        "trader0",
        "ok",
        None,
        10_000_000,
        9_000_000,
        1_000_000,
        42,
    ]
    rendered = render_stored(stored)
    assert rendered.startswith("BalanceResult(")
    assert "total=Decimal('10')" in rendered and "seq=42" in rendered
