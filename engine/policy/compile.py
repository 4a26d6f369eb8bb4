"""Turn a validated policy into its compiled form: plain JSON with patterns as regexes.

The compiled form is what rules are built from, and what the hook caches, so a push
never pays for YAML parsing, schema validation or pattern translation. Each rule names
the module and class of its kind, so building it imports only that kind.
"""

from __future__ import annotations

import hashlib
from typing import Any

from engine import __version__
from engine.policy.load import field_value, kind_of, load_policy, position
from engine.policy.patterns import compile_patterns
from engine.rules import kinds


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compile_policy(data: bytes, source: str) -> dict[str, Any]:
    root, policy = load_policy(data, source)
    default_enforcement = policy.get("enforcement", "enforce")
    registry = kinds()
    rules = []
    for index, rule in enumerate(policy["rules"]):
        kind = kind_of(rule)
        cls = registry[kind]
        body = field_value(rule, kind)
        # Path patterns match normalised names too unless the rule opts out; ref patterns never do.
        normalize = rule.get("path_matching", "normalized") == "normalized"
        patterns = {}
        for field in cls.pattern_fields:
            raw = field_value(body, field)
            if raw is not None:
                patterns[field] = [raw, compile_patterns(raw, normalize=normalize)]
        refs = rule.get("refs")
        when = rule.get("when", {}).get("paths")
        rules.append({
            "id": rule["id"],
            "kind": kind,
            "implementation": [cls.__module__, cls.__name__],
            "line": position(root, ["rules", index])[0],
            "on": rule.get("on", list(cls.default_stages)),
            "refs": [refs, compile_patterns(refs)] if refs else None,
            "when_paths": [when, compile_patterns(when, normalize=normalize)] if when else None,
            "except_actors": rule.get("except", {}).get("actors", []),
            "enforcement": rule.get("enforcement", default_enforcement),
            "message": rule.get("message", ""),
            "description": rule.get("description", ""),
            "params": body,
            "patterns": patterns,
        })
    return {
        "changegate": __version__,
        "name": policy.get("name", source),
        "source": source,
        "digest": digest(data),
        "sources": policy.get("sources", {}),
        "trust": policy.get("trust"),
        "blob_refs": policy.get("blob_refs", "deny"),
        "bypass": _bypass(policy.get("bypass")),
        "rules": rules,
    }


def _bypass(section: dict[str, Any] | None) -> dict[str, Any] | None:
    """Who may bypass which rules (engine.bypass), with the schema's default; None: nobody."""
    if section is None:
        return None
    return {"actors": list(section["actors"]), "rules": list(section["rules"]),
            "reason": section.get("reason", "required")}
