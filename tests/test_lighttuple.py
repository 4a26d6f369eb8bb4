"""engine.lighttuple.NamedTuple behaves like typing.NamedTuple for everything changegate uses."""

from __future__ import annotations

import typing

import pytest

from engine import lighttuple


def make(base: type) -> type:
    class Point(base):  # type: ignore[misc, valid-type]
        x: int
        y: str
        z: tuple[int, ...] = ()

        @property
        def doubled(self) -> int:
            return int(self.x) * 2

    return Point


REAL, OURS = make(typing.NamedTuple), make(lighttuple.NamedTuple)  # type: ignore[arg-type]


@pytest.mark.parametrize("cls", [REAL, OURS])
def test_construction_access_defaults_and_methods(cls: type) -> None:
    p = cls(1, "a")
    assert (p.x, p.y, p.z, p.doubled) == (1, "a", (), 2)
    assert p == (1, "a", ()) and hash(p) == hash((1, "a", ()))
    assert cls(1, y="a", z=(2,)) == (1, "a", (2,))
    assert p._replace(y="b") == (1, "b", ())
    assert p._asdict() == {"x": 1, "y": "a", "z": ()}
    assert cls._make([3, "c", (1,)]).z == (1,)
    assert cls._fields == ("x", "y", "z")
    assert repr(p) == "Point(x=1, y='a', z=())"


@pytest.mark.parametrize("cls", [REAL, OURS])
def test_misuse_raises_type_errors(cls: type) -> None:
    with pytest.raises(TypeError):
        cls(1)
    with pytest.raises(TypeError):
        cls(1, "a", (), 4)
    with pytest.raises(TypeError):
        cls(1, "a", w=2)
    with pytest.raises(AttributeError):
        cls(1, "a").x = 2


def test_ours_is_a_slotted_tuple() -> None:
    p = OURS(1, "a")
    assert isinstance(p, tuple) and not hasattr(p, "__dict__")
