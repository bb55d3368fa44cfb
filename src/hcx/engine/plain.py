"""The shared base of the engine's data classes: field lists, repr and equality by field.

It owns only what attrs gave these classes before they became plain classes that mypyc
compiles to native ones (attrs classes compiled stay slow, and some fail to import):
``FIELDS`` in declaration order, which the snapshot, the journal codec and the wire plan
read, a repr, and (for values only) equality. It never holds behaviour of the engine.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar

T = TypeVar("T", bound="Fields")


class Fields:
    """A class with a fixed list of fields, in the order its ``__init__`` takes them.
    Equality stays identity: orders, wallets and exposures are entities."""

    FIELDS: ClassVar[tuple[str, ...]] = ()

    def values(self) -> tuple[Any, ...]:
        """The field values in ``FIELDS`` order. The result and event classes spell it
        out (a native call instead of a read by name per field: the journal record of
        every command is built from these); a test holds each to its ``FIELDS``."""
        return tuple(getattr(self, name) for name in self.FIELDS)

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({inner})"


class Value(Fields):
    """A value: equal to another of the same class with equal fields (as attrs' ``eq``)."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return field_values(self) == field_values(other)

    def __ne__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return field_values(self) != field_values(other)


def has_fields(cls: type) -> bool:
    return isinstance(cls, type) and issubclass(cls, Fields)


def field_names(cls: type) -> tuple[str, ...]:
    if not has_fields(cls):
        raise TypeError(f"{cls.__name__} is not one of the engine's plain classes")
    names: tuple[str, ...] = getattr(cls, "FIELDS")  # noqa: B009 (a class, not a Fields)
    return names


def field_values(obj: Fields) -> tuple[Any, ...]:
    return obj.values()


def as_dict(obj: Fields) -> dict[str, Any]:
    """The fields by name (not recursive: nested values are handed out as they are)."""
    return {name: getattr(obj, name) for name in obj.FIELDS}


def replace(obj: T, **changes: Any) -> T:
    """A copy of ``obj`` with ``changes`` (as ``attrs.evolve``)."""
    values = as_dict(obj)
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return type(obj)(**values)
