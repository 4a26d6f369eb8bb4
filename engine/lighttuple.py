"""`NamedTuple` for the push path, without importing `typing`.

`typing` and `collections.namedtuple` (which `exec`s source for every class) cost
~13 ms of a pre-receive hook's ~40 ms budget on a 2-core server. Modules on the
hook path write

    TYPE_CHECKING = False
    if TYPE_CHECKING:
        from typing import NamedTuple
    else:
        from engine.lighttuple import NamedTuple

so mypy checks them against the real `typing.NamedTuple`, while at run time this
metaclass builds the same kind of class: a tuple subclass with one read-only
property per annotated field, defaults, `_make`, `_replace`, `_asdict`, `_fields`
and a NamedTuple-style repr. tests/test_lighttuple.py pins the behaviour to typing's.
"""

from __future__ import annotations

from operator import itemgetter

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


class _Base(tuple):  # type: ignore[type-arg]
    __slots__ = ()
    _fields: tuple[str, ...] = ()

    @classmethod
    def _make(cls, iterable: Iterable[Any]) -> Any:
        return tuple.__new__(cls, iterable)

    def _replace(self, **changes: Any) -> Any:
        values = [changes.pop(f, v) for f, v in zip(self._fields, self, strict=True)]
        if changes:
            raise TypeError(f"{type(self).__name__}._replace() got unexpected fields: {', '.join(changes)}")
        return tuple.__new__(type(self), values)

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self._fields, self, strict=True))

    def __repr__(self) -> str:
        inner = ", ".join(f"{f}={v!r}" for f, v in zip(self._fields, self, strict=True))
        return f"{type(self).__name__}({inner})"

    def __getnewargs__(self) -> tuple[Any, ...]:
        return tuple(self)


class _RecordMeta(type):
    def __new__(mcls, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> Any:
        if not bases:  # NamedTuple itself
            return super().__new__(mcls, name, bases, namespace)
        fields = tuple(namespace.get("__annotations__", {}))
        defaults = {f: namespace.pop(f) for f in fields if f in namespace}
        first_default = next((i for i, f in enumerate(fields) if f in defaults), len(fields))
        if any(f not in defaults for f in fields[first_default:]):
            raise TypeError(f"{name}: a field without a default follows one with a default")

        def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
            if len(args) > len(fields):
                raise TypeError(f"{name}() takes {len(fields)} arguments but {len(args)} were given")
            values = list(args)
            for field in fields[len(args):]:
                if field in kwargs:
                    values.append(kwargs.pop(field))
                elif field in defaults:
                    values.append(defaults[field])
                else:
                    raise TypeError(f"{name}() missing required argument: {field!r}")
            if kwargs:
                raise TypeError(f"{name}() got unexpected arguments: {', '.join(kwargs)}")
            return tuple.__new__(cls, values)

        body = {k: v for k, v in namespace.items() if k not in ("__dict__", "__weakref__")}
        body.update(__slots__=(), __new__=__new__, _fields=fields, _field_defaults=defaults)
        for index, field in enumerate(fields):
            body[field] = property(itemgetter(index), doc=f"Alias for field number {index}")
        return type(name, (_Base,), body)


class NamedTuple(metaclass=_RecordMeta):
    """Base to subclass with annotated fields, as with typing.NamedTuple."""
