"""MemoryFacts: a change as plain data, judged exactly as the same change read from git."""

from __future__ import annotations

import textwrap
from pathlib import Path

from engine.change import Actor, Change, Inputs, RefUpdate
from engine.facts.gitfacts import GitFacts
from engine.facts.memory import MemoryFacts
from engine.git import Git
from engine.judge import judge
from engine.notes import NOTES_REFS
from engine.policy.compile import compile_policy
from tests.helpers.repos import git as git_cli

POLICY = compile_policy(textwrap.dedent("""\
    version: 1
    name: memory
    rules:
      - id: no-weights
        deny_paths: ["*.safetensors"]
      - id: prompts-need-no-tmp
        when: {paths: ["prompts/**"]}
        deny_paths: ["*.tmp"]
      - id: main-linear
        refs: ["refs/heads/main"]
        deny: [non_fast_forward, deletion]
""").encode(), "memory.yml")
ACTOR = Actor("ann", "cli", "--actor")


def commit_files(work: Path, files: dict[str, str], message: str) -> None:
    for name, text in files.items():
        (work / name).parent.mkdir(parents=True, exist_ok=True)
        (work / name).write_text(text)
        git_cli("add", name, cwd=work)
    git_cli("-c", "user.name=T", "-c", "user.email=t@example.com", "commit", "-qm", message, cwd=work)


def test_the_same_change_as_data_gets_the_same_decision(tmp_path: Path) -> None:
    work = tmp_path / "work"
    git_cli("init", "-q", "-b", "main", str(work), cwd=tmp_path)
    commit_files(work, {"README.md": "x"}, "base")
    git = Git(str(work / ".git"))
    base = git.run("rev-parse", "HEAD").decode().strip()
    commit_files(work, {"prompts/a.txt": "p", "w.safetensors": "w"}, "weights")
    commit_files(work, {"prompts/b.tmp": "t"}, "tmp")
    head = git.run("rev-parse", "HEAD").decode().strip()
    change = Change((RefUpdate(base, head, b"refs/heads/main"),), ACTOR, "push")
    inputs = Inputs(now=1.0)
    from_git = GitFacts(git, change, server_refs=[(b"refs/heads/main", base)], inputs=inputs, policy=POLICY)
    expected = judge(POLICY, from_git)
    [update] = change.updates
    described = MemoryFacts(change, brings={update.ref: from_git.commits_for(update, None)}, inputs=inputs,
                            policy=POLICY)
    decision = judge(POLICY, described)
    assert [o.status for o in expected.outcomes] == ["fail", "fail", "pass"]
    assert decision.outcomes == expected.outcomes


def test_a_rewrite_is_told_by_the_parents_given() -> None:
    update = RefUpdate("a" * 40, "b" * 40, b"refs/heads/main")
    from engine.change import Commit

    rewritten = Commit("b" * 40, "t" * 40, ("c" * 40,), "T", "t@example.com", ())
    facts = MemoryFacts(Change((update,), ACTOR, "push"), brings={update.ref: [rewritten]}, policy=POLICY)
    outcome = {o.rule: o for o in judge(POLICY, facts).outcomes}["main-linear"]
    assert outcome.status == "fail" and "non-fast-forward" in outcome.seen[0]


def test_what_the_data_does_not_say_denies() -> None:
    """An update of changegate's notes ref whose losses are not described cannot be shown to keep them."""
    notes_ref = NOTES_REFS["approvals"].encode()
    update = RefUpdate("a" * 40, "b" * 40, notes_ref)
    from engine.change import Commit

    notes_commit = Commit("b" * 40, "t" * 40, ("a" * 40,), "T", "t@example.com", ())
    facts = MemoryFacts(Change((update,), ACTOR, "push"), brings={notes_ref: [notes_commit]},
                        types={"a" * 40: "commit"}, policy=POLICY)
    decision = judge(POLICY, facts)
    records = {o.rule: o for o in decision.outcomes}["changegate-records"]
    assert records.status == "error" and "is not described" in records.message and not decision.allowed
