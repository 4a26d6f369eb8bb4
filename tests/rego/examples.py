"""The published example input documents (policies/schema/examples/rego-input.<stage>.json),
built by the real input builder from changes described as data.

`python -m tests.rego.examples` rewrites them; tests/rego/test_input.py checks they are
current and valid against policies/schema/rego-input.schema.json.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.change import Actor, Change, ChangedPath, Commit, CommitDetails, Inputs, RefUpdate
from engine.decision import Outcome
from engine.facts.memory import MemoryFacts
from engine.rego.input import input_document

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "policies" / "schema" / "examples"
SCHEMA = ROOT / "policies" / "schema" / "rego-input.schema.json"
STAGES = ("push", "merge", "deploy")

BASE, FIRST, SECOND = "1" * 40, "2" * 40, "3" * 40
TREE1, TREE2 = "4" * 40, "5" * 40
PROMPT, CONFIG, WEIGHTS, REMOVED = "6" * 40, "7" * 40, "8" * 40, "0" * 40
POLICY = {"name": "llm-remediation", "digest": "sha256:" + "9" * 64}
NOW = 1_764_590_400.0  # 2025-12-01T12:00:00Z


def _commits() -> list[Commit]:
    first = Commit(FIRST, TREE1, (BASE,), "Ann Author", "ann@example.com", (
        ChangedPath(b"prompts/triage.txt", "M", PROMPT, "100644"),
        ChangedPath(b"models/llm/config.yaml", "A", CONFIG, "100644"),
    ), "Ann Author", "ann@example.com")
    second = Commit(SECOND, TREE2, (FIRST,), "Bob Builder", "bob@example.com", (
        ChangedPath(b"models/llm/weights.safetensors", "A", WEIGHTS, "100644"),
        ChangedPath(b"notes/old.md", "D", REMOVED, "000000"),
    ), "Ann Author", "ann@example.com")
    return [first, second]


def _earlier(stage: str) -> list[tuple[str, Outcome]]:
    found = [("deny_paths", Outcome("no-weights-in-git", "fail", "1 forbidden path in new commits",
                                    ("commit 3333333333 on refs/heads/main adds models/llm/weights.safetensors",),
                                    paths=("models/llm/weights.safetensors",)))]
    if stage != "push":
        found.append(("require.approvals", Outcome(
            "prompts-need-review", "pass", "2 of 2 required approvals",
            ("refs/heads/main: approved by carol (ml-leads), dave (ml-leads)",))))
    if stage == "deploy":
        found.append(("require.evidence", Outcome(
            "dry-run-passed", "pass", "dry-run evidence accepted for every updated ref",
            ("refs/heads/main -> commit 3333333333 (tree 5555555555): accepted note: dry-run passed",))))
    return found


def document(stage: str) -> dict[str, Any]:
    actor = {"push": Actor("ann", "gitolite", "GL_USER"), "merge": Actor("ann", "github-actions", "event"),
             "deploy": Actor("deploy-bot", "cli", "--actor")}[stage]
    update = RefUpdate(BASE, SECOND, b"refs/heads/main")
    facts = MemoryFacts(Change((update,), actor, stage),  # type: ignore[arg-type]
                        brings={b"refs/heads/main": _commits()}, known=[Commit(BASE, "a" * 40, (), "", "", ())],
                        sizes={PROMPT: 2_311, CONFIG: 512, WEIGHTS: 4_294_967_296},
                        details={FIRST: CommitDetails("ML-12: sharper system prompt\n"),
                                 SECOND: CommitDetails("ML-12: add the fine-tuned weights\n")},
                        inputs=Inputs(now=NOW), policy=POLICY)
    return input_document(facts, earlier=_earlier(stage))


def render(stage: str) -> str:
    return json.dumps(document(stage), indent=2, ensure_ascii=False) + "\n"


def main() -> None:
    EXAMPLES.mkdir(exist_ok=True)
    for stage in STAGES:
        (EXAMPLES / f"rego-input.{stage}.json").write_text(render(stage))


if __name__ == "__main__":
    main()
