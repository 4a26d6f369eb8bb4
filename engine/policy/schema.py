"""The published policy schema, assembled from the base and one fragment per rule kind.

`policies/schema/policy.base.json` holds everything but the kinds; each kind's parameters
are `policies/schema/kinds/<kind>.json`. `assemble()` adds every registered kind to the
rule definition (a top-level key such as `deny_paths`, or a `require:` entry), so the
schema, the registry and the loader cannot disagree about which kinds exist. The result is
committed as `policy.schema.json` (editors and CI validate against one file); a test keeps
it current, and `python -m engine.policy.schema` rewrites it after a fragment changes.
"""

from __future__ import annotations

import json
import os
from typing import Any

from engine.resources import resource

SCHEMA_DIR = ("policies", "schema")


def fragment_path(kind: str) -> str:
    return os.path.join(resource(*SCHEMA_DIR), "kinds", f"{kind}.json")


def assemble() -> dict[str, Any]:
    """The whole policy schema: the base plus every registered rule kind's fragment."""
    from engine.rules import kinds

    with open(resource(*SCHEMA_DIR, "policy.base.json"), encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    schema.pop("$comment", None)
    defs = schema["$defs"]
    rule = defs["rule"]
    required: dict[str, Any] = {}
    for kind, cls in kinds().items():
        path = fragment_path(kind)
        if not os.path.exists(path):
            raise LookupError(f"rule kind {kind!r} ({cls.__module__}) has no schema fragment: add {path}")
        with open(path, encoding="utf-8") as f:
            fragment: dict[str, Any] = json.load(f)
        defs.update(fragment.pop("$defs", {}))
        top, _, sub = kind.partition(".")
        if sub:
            required.setdefault(top, {})[sub] = fragment
        else:
            rule["properties"][top] = fragment
    for top, entries in required.items():
        rule["properties"][top] = {
            "type": "object", "additionalProperties": False, "minProperties": 1, "maxProperties": 1,
            "properties": entries,
            "description": f"One requirement the change must meet: one of {', '.join(entries)}."}
    tops = list(dict.fromkeys(kind.partition(".")[0] for kind in kinds()))
    rule["oneOf"] = [{"required": [top]} for top in tops]
    return schema


def render() -> str:
    return json.dumps(assemble(), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    """Rewrite policies/schema/policy.schema.json from the base and the kinds' fragments."""
    path = resource(*SCHEMA_DIR, "policy.schema.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write(render())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
