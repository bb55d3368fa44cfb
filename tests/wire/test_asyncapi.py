"""docs/asyncapi.json: current with its generator, well formed, and strict enough to fail."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema

from hcx.protocol import SUBPROTOCOL_CBOR, SUBPROTOCOL_JSON, codec
from tests.harness import wire_schema

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "asyncapi.json"


def test_asyncapi_file_is_what_the_generator_writes() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "asyncapi_gen.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_every_schema_is_a_valid_draft7_schema_and_listed_once() -> None:
    document = json.loads(DOC.read_text())
    assert document["asyncapi"].startswith("3.")
    schemas = document["components"]["schemas"]
    for schema in schemas.values():
        jsonschema.Draft7Validator.check_schema(schema)
    operations = document["operations"]
    received = [m["$ref"].rsplit("/", 1)[1] for m in operations["receive"]["messages"]]
    sent = [m["$ref"].rsplit("/", 1)[1] for m in operations["send"]["messages"]]
    assert not set(received) & set(sent)
    assert sorted(received + sent) == sorted(schemas)


def test_a_described_message_passes_and_undescribed_ones_fail() -> None:
    good = {
        "type": "PlaceOrder",
        "request_id": "6f1c8a52-3c1e-4d0b-9a57-0c8f4c6c2d11",
        "ts": 1795495705011,
        "symbol": "ETH-20261225-3000-C",
        "side": "buy",
        "price": "121",
        "size": "1",
    }
    assert wire_schema.problems(good) == []
    assert wire_schema.problems({**good, "price": 121})
    assert wire_schema.problems({**good, "price": "1e3"})
    assert wire_schema.problems({**good, "colour": "red"})
    assert wire_schema.problems({**good, "type": "PlaceOrders"})
    del good["side"]
    assert wire_schema.problems(good)


def test_the_codec_checks_json_and_cbor_frames_in_the_test_suite(tmp_path: Path) -> None:
    # The suite's conftest set the variable before hcx was imported: the codec's
    # functions are the checking ones.
    assert codec.encode.__name__ == "checked_encode"
    plain_encode = codec.encode.__wrapped__  # type: ignore[attr-defined]
    plain_decode = codec.decode.__wrapped__  # type: ignore[attr-defined]
    encode, decode = wire_schema.wrap(plain_encode, plain_decode, str(tmp_path))
    bad = {"type": "Pong", "server_ms": "soon"}
    for subprotocol in (SUBPROTOCOL_JSON, SUBPROTOCOL_CBOR):
        decode(encode(bad, subprotocol), subprotocol)
    lines = [
        json.loads(line)
        for path in tmp_path.glob("violations-*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert sorted((v["direction"], v["subprotocol"]) for v in lines) == sorted(
        (d, s) for d in ("sent", "received") for s in (SUBPROTOCOL_JSON, SUBPROTOCOL_CBOR)
    )
