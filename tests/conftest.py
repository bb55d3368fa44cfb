"""Every message on the wire in the suite is checked against docs/asyncapi.json.

``HCX_WIRE_SCHEMA_CHECK`` is set here, before hcx is imported, to a directory of this
session, and ``tests.harness.wire_schema.install`` wraps ``hcx.protocol.codec``'s
functions to check every message they encode or decode: in this process, and in every
Python process the tests start (they inherit the environment, whose ``PYTHONPATH`` leads
with a ``sitecustomize`` that installs the same check). Failures are recorded there.
``_wire_schema`` fails the test during which a violation was recorded. A test marked
``wire_malformed`` sends malformed messages on purpose: what a process *received* may fail
there, never what one sent.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.wire_schema import install as install_wire_schema

_ROOT = str(Path(__file__).resolve().parent.parent)
_DIRECTORY = tempfile.mkdtemp(prefix="hcx-wire-schema-")
os.environ["HCX_WIRE_SCHEMA_CHECK"] = _DIRECTORY
atexit.register(shutil.rmtree, _DIRECTORY, True)
# Processes the tests start: the same check, installed as their interpreter starts.
_SITE = Path(_DIRECTORY) / "site"
_SITE.mkdir()
(_SITE / "sitecustomize.py").write_text(
    "from tests.harness.wire_schema import install\ninstall()\n"
)
os.environ["PYTHONPATH"] = os.pathsep.join(
    [str(_SITE), _ROOT, *filter(None, [os.environ.get("PYTHONPATH")])]
)
install_wire_schema()


def _violations() -> list[dict[str, object]]:
    found = []
    for path in sorted(Path(_DIRECTORY).glob("violations-*.jsonl")):
        found.extend(json.loads(line) for line in path.read_text().splitlines() if line)
        path.unlink()
    return found


@pytest.fixture(autouse=True)
def _wire_schema(request: pytest.FixtureRequest) -> Iterator[None]:
    _violations()  # anything left by a process between tests is not this test's
    yield
    found = _violations()
    if request.node.get_closest_marker("wire_malformed") is not None:
        found = [v for v in found if v["direction"] != "received"]
    if found:
        lines = [f"{v['direction']} {v['message']!r}: {v['problems']}" for v in found[:10]]
        pytest.fail(
            f"{len(found)} message(s) not described by docs/asyncapi.json:\n" + "\n".join(lines)
        )
