"""Turn a validated policy into its compiled form: plain JSON with patterns as regexes.

The compiled form is what rules are built from, and what the hook caches, so a push
never pays for YAML parsing, schema validation or pattern translation.
"""

from __future__ import annotations

import hashlib
from typing import Any

from engine import __version__
from engine.policy.load import default_stages, load_policy, position, rule_kind
from engine.policy.patterns import compile_patterns


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compile_policy(data: bytes, source: str) -> dict[str, Any]:
    root, policy = load_policy(data, source)
    default_enforcement = policy.get("enforcement", "enforce")
    rules = []
    for index, rule in enumerate(policy["rules"]):
        kind = rule_kind(rule)
        params: dict[str, Any] = dict(rule["require"][kind[8:]]) if kind.startswith("require.") else {kind: rule[kind]}
        # Path patterns match normalised names too unless the rule opts out; ref patterns never do.
        normalize = rule.get("path_matching", "normalized") == "normalized"
        if kind == "deny_paths":
            params["compiled"] = compile_patterns(rule[kind], normalize=normalize)
        if kind == "require.evidence" and "paths" in params:
            params["compiled_paths"] = compile_patterns(params["paths"], normalize=normalize)
        refs = rule.get("refs")
        when = rule.get("when", {}).get("paths")
        rules.append({
            "id": rule["id"],
            "kind": kind,
            "line": position(root, ["rules", index])[0],
            "on": rule.get("on", default_stages(kind)),
            "refs": [refs, compile_patterns(refs)] if refs else None,
            "when_paths": [when, compile_patterns(when, normalize=normalize)] if when else None,
            "except_actors": rule.get("except", {}).get("actors", []),
            "enforcement": rule.get("enforcement", default_enforcement),
            "message": rule.get("message", ""),
            "description": rule.get("description", ""),
            "params": params,
        })
    return {
        "changegate": __version__,
        "name": policy.get("name", source),
        "source": source,
        "digest": digest(data),
        "sources": policy.get("sources", {}),
        "trust": policy.get("trust"),
        "blob_refs": policy.get("blob_refs", "deny"),
        "rules": rules,
    }
