"""A one-minute soak against a real ``hcx serve`` (``tests/load/soak.py``): 1,000 idle
connections, 100 book subscribers, 10 consumers that never read, four traders at a
steady rate. Structural checks only, never a timing:

* memory is flat: the server's RSS grows less than 10% after a 20 s warm-up;
* every slow consumer is cut with close 1008 and the documented reason, and the
  server's ``hcx_slow_consumer_closes_total`` agrees;
* nobody else is hurt: no trader error or rejection, no subscriber disconnected or
  seeing a book gap, every idle connection still answers ``Ping``;
* ``SIGTERM`` with all of that connected: exit 0, no traceback.

Latency per minute is printed (``-s``), not judged. ``scripts/soak.py`` runs the long
version. Marked ``soak``: ``pytest -m "not soak"`` leaves it out.
"""

from __future__ import annotations

import resource
from pathlib import Path

import attrs
import pytest

from tests.load.soak import SLOW_CONSUMER_REASON, SoakConfig, run_soak

pytestmark = pytest.mark.soak

CONFIG = SoakConfig(
    minutes=1.0,
    connections=1000,
    subscribers=100,
    slow=10,
    rate=40.0,
    traders=4,
    symbols=2,
    sample_s=2.0,
    warmup_s=20.0,
    outbound_messages=250,
    recent_orders_kept=1000,
)


def test_one_minute_soak(tmp_path: Path) -> None:
    limits = resource.getrlimit(resource.RLIMIT_NOFILE)
    # 1,000 connections are 1,000 descriptors on each side: soft limit up to the hard one
    # (the server, started from here, inherits it).
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits[1], limits[1]))
    try:
        report = run_soak(attrs.evolve(CONFIG, directory=tmp_path), print)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, limits)
    print(report.summary())

    assert report.exit_code == 0 and not report.traceback_in_log
    assert report.idle_opened == report.idle_alive_at_end == CONFIG.connections
    assert report.peak_connections > CONFIG.connections + CONFIG.subscribers + CONFIG.traders
    # Memory flat after warm-up.
    assert len(report.after_warmup()) >= 10
    assert report.rss_growth_max < 0.10, report.summary()
    # Slow consumers cut, with the right code and reason; no one else.
    assert report.slow_closes == [(1008, SLOW_CONSUMER_REASON)] * CONFIG.slow
    assert report.samples[-1].slow_closes == CONFIG.slow
    # Everyone else served.
    assert report.orders > 0 and report.trader_errors == [] and not report.rejections
    assert report.subscriber_disconnects == [] and report.subscriber_gaps == 0
    assert report.subscribers_reading == CONFIG.subscribers
