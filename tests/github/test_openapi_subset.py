"""The pinned OpenAPI subset is whole, current with the client, and made by scripts/cut-openapi.

Re-cutting from npm on every run would be slow and need the registry; instead these
tests check the pinned file's integrity and the cutting logic on a small document.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import pathlib
import re
import subprocess
import sys
from types import ModuleType
from typing import Any

from tests.helpers.fake_github import SUBSET, load_subset

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "cut-openapi"

# Every operation engine/facts/github_client.py calls.
CLIENT_OPERATIONS = {
    "GET /repos/{owner}/{repo}/pulls",
    "GET /repos/{owner}/{repo}/pulls/{pull_number}",
    "GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews",
    "GET /repos/{owner}/{repo}/pulls/{pull_number}/files",
    "GET /repos/{owner}/{repo}/pulls/{pull_number}/commits",
    "GET /orgs/{org}/teams/{team_slug}/memberships/{username}",
    "GET /orgs/{org}/teams/{team_slug}",
    "GET /repos/{owner}/{repo}/contents/{path}",
    "POST /repos/{owner}/{repo}/check-runs",
    "PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}",
    "GET /repos/{owner}/{repo}/commits/{ref}/check-runs",
}


def _script() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("cut_openapi", str(SCRIPT))
    spec = importlib.util.spec_from_loader("cut_openapi", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _walk(node: Any) -> Any:
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_every_ref_in_the_subset_resolves() -> None:
    subset = load_subset()
    refs = {n["$ref"] for n in _walk(subset) if isinstance(n, dict) and isinstance(n.get("$ref"), str)}
    assert refs, "a subset without $refs was not cut from GitHub's description"
    for ref in refs:
        node: Any = subset
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
            node = node[part]


def test_every_operation_the_client_uses_is_pinned() -> None:
    subset = load_subset()
    pinned = {f"{m.upper()} {p}" for p, item in subset["paths"].items() for m in item if m != "parameters"}
    assert pinned == CLIENT_OPERATIONS
    assert set(subset["info"]["x-cut-from"]["operations"]) == CLIENT_OPERATIONS
    assert {f"{m.upper()} {p}" for m, p in _script().OPERATIONS} == CLIENT_OPERATIONS


def test_package_version_and_digest_are_recorded() -> None:
    origin = load_subset()["info"]["x-cut-from"]
    assert origin["package"] == "@octokit/openapi"
    assert re.fullmatch(r"\d+\.\d+\.\d+", origin["version"])
    assert origin["file"] == "generated/api.github.com.json"
    assert re.fullmatch(r"[0-9a-f]{64}", origin["sha256"])
    assert load_subset()["openapi"].startswith("3.0.")


def test_no_nullable_enum_or_composition_rejects_null() -> None:
    for node in _walk(load_subset()):
        if isinstance(node, dict) and node.get("nullable") is True:
            if "enum" in node:
                assert None in node["enum"], node
            if "type" not in node:
                assert not ({"allOf"} & node.keys()), node


def test_subset_is_a_valid_openapi_document() -> None:
    from openapi_core import OpenAPI  # validates the document while loading it

    OpenAPI.from_dict(json.loads(SUBSET.read_text(encoding="utf-8")))


def test_cutting_keeps_operations_and_transitive_refs_only(tmp_path: pathlib.Path) -> None:
    """The script on a tiny description: reachable components stay, the rest go."""
    script = _script()
    ok = {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/a"}}}}
    paths: dict[str, Any] = {p: {m: {"responses": {"200": ok}}} for m, p in script.OPERATIONS}
    paths["/unused"] = {
        "get": {
            "responses": {
                "200": {
                    "description": "x",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/unused"}}},
                }
            }
        }
    }
    doc = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": {
                "a": {"type": "object", "properties": {"b": {"$ref": "#/components/schemas/b"}}},
                "b": {
                    "type": "object",
                    "properties": {
                        "state": {"type": "string", "nullable": True, "enum": ["x"]},
                        "who": {"nullable": True, "oneOf": [{"$ref": "#/components/schemas/c"}]},
                    },
                },
                "c": {"type": "object"},
                "unused": {"type": "string"},
            }
        },
    }
    source = tmp_path / "api.github.com.json"
    source.write_text(json.dumps(doc))
    out = tmp_path / "subset.json"
    subprocess.run(
        [sys.executable, str(SCRIPT), "--from-json", str(source), "--package-version", "9.9.9", "--output", str(out)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    subset = json.loads(out.read_text())
    assert sorted(subset["components"]["schemas"]) == ["a", "b", "c"]
    assert "/unused" not in subset["paths"]
    props = subset["components"]["schemas"]["b"]["properties"]
    assert props["state"]["enum"] == ["x", None]
    assert props["who"]["oneOf"][-1] == {"type": "object", "nullable": True, "enum": [None]}
    assert subset["info"]["x-cut-from"]["version"] == "9.9.9"
    assert subset["info"]["x-cut-from"]["fixes"] == {
        "nullable-enum-gained-null": 1,
        "nullable-composition-gained-null-branch": 1,
    }
