"""Each result and event class spells out ``values()`` (the journal record is built from
it): it must give exactly the fields ``FIELDS`` names, in that order."""

from __future__ import annotations

from typing import Any

from hcx.durability.records import OUTPUT_TYPES
from hcx.engine import Engine
from hcx.engine.plain import Fields
from tests.test_bench_smoke import _load_bench


def _by_name(item: Fields) -> tuple[Any, ...]:
    return tuple(getattr(item, name) for name in item.FIELDS)


def test_every_output_class_spells_out_its_values() -> None:
    for cls in OUTPUT_TYPES.values():
        assert "values" in vars(cls) or cls.__base__ in OUTPUT_TYPES.values(), cls.__name__


def test_values_are_the_fields_in_order_on_a_stream() -> None:
    bench = _load_bench()
    built = bench.build_stream(seed=3, commands=3_000, wallets=40, instruments=6, mmp_share=0.3)
    engine = Engine()
    seen: set[type] = set()
    for envelope in [*built.setup, *built.commands]:
        output = engine.apply(envelope)
        for item in (output.result, *output.events):
            assert item.values() == _by_name(item), type(item).__name__
            seen.add(type(item))
    # The stream reaches the classes of the record's hot path.
    assert {"OrderResult", "OrderUpdate", "Fill", "Trade", "BookUpdate", "Balance"} <= {
        cls.__name__ for cls in seen
    }
