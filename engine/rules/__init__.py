"""Rule kinds: every module of this package that defines a `Rule` subclass with a `kind`.

`kinds()` finds them (the loader, compiler and validator iterate over it, so adding a kind
is one module plus its schema fragment). It imports every kind's module, so only policy
compilation calls it; the push hook builds rules from the compiled policy, which names
each rule's module and class, and so imports only the kinds its policy uses (approvals or
thresholds would otherwise drag HTTP and crypto libraries onto the hook path).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from engine.rules.base import Rule

_KINDS: dict[str, type[Rule]] = {}


def kinds() -> dict[str, type[Rule]]:
    """Every rule kind, by its policy key ("deny_paths", "require.approvals"), sorted by key."""
    if not _KINDS:
        import inspect
        import pkgutil

        from engine.rules.base import Rule

        found: dict[str, type[Rule]] = {}
        for info in pkgutil.iter_modules(__path__, __name__ + "."):
            module = _module(info.name)
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if (issubclass(cls, Rule) and cls.__module__ == module.__name__ and not inspect.isabstract(cls)
                        and "kind" in vars(cls) and not cls.kind.startswith("builtin.")):
                    if cls.kind in found:
                        raise TypeError(f"rule kind {cls.kind!r} is declared twice: {found[cls.kind].__module__} "
                                        f"and {module.__name__}")
                    found[cls.kind] = cls
        _KINDS.update(sorted(found.items()))
    return _KINDS


def build_rules(compiled: dict[str, Any]) -> list[Rule]:
    """The rules of a compiled policy, importing only the modules of the kinds it uses."""
    rules = []
    for spec in compiled["rules"]:
        module, name = spec["implementation"]
        rules.append(getattr(_module(module), name)(spec))
    return rules


def _module(name: str) -> Any:
    """importlib.import_module for an absolute name, without importing importlib (on every push)."""
    __import__(name)
    return sys.modules[name]
