"""`max_path_length:` proven with real pushes, and judged from plain data."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from engine.change import Actor, Change, ChangedPath, Commit, RefUpdate
from engine.facts.memory import MemoryFacts
from engine.judge import judge as judge_policy
from engine.policy.compile import compile_policy
from tests.helpers.repos import Clone, Server, protected


def policy(body: str) -> str:
    return f"version: 1\nname: length-test\nrules:\n  - id: short-paths\n    max_path_length: {body}\n"


def limited(root: Path, body: str) -> tuple[Server, Clone]:
    """A server whose first commit went in before the limit, now judging by `body`."""
    server, clone = protected(root, policy("{limit: 4096}"))
    server.policy_file.write_text(policy(body))
    return server, clone


def test_a_path_over_the_limit_is_denied_naming_commit_and_path(tmp_path: Path) -> None:
    server, clone = limited(tmp_path, "{limit: 20}")
    commit = clone.commit("deep", "src/module/sub/file.py")  # 22 bytes
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "[DENY] short-paths: 1 added path(s) too long in new commits" in result.remote
    assert f"commit {commit[:10]} on refs/heads/main adds src/module/sub/file.py: 22 bytes, over 20" in result.remote
    assert "git mv" in result.remote
    assert server.rev("refs/heads/main") != commit


def test_a_path_of_exactly_the_limit_passes(tmp_path: Path) -> None:
    server, clone = limited(tmp_path, "{limit: 22}")
    clone.commit("deep", "src/module/sub/file.py")
    assert clone.push("HEAD:refs/heads/main").code == 0


def test_length_is_counted_in_bytes_as_git_stores_the_path(tmp_path: Path) -> None:
    server, clone = limited(tmp_path, "{limit: 10}")
    clone.commit("accents", "modèles/é")  # 9 characters, 11 bytes in UTF-8
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0 and "adds modèles/é: 11 bytes, over 10" in result.remote


def test_a_name_over_the_component_limit_is_denied(tmp_path: Path) -> None:
    server, clone = limited(tmp_path, "{limit: 200, component: 8}")
    clone.commit("fine", "a/b/c/d/e/f/g/h/i/j.txt")
    assert clone.push("HEAD:refs/heads/main").code == 0
    clone.commit("long name", "data/evaluation/x.txt")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "adds data/evaluation/x.txt: the name evaluation is 10 bytes, over 8" in result.remote
    assert "no directory or file name in it longer than 8 bytes" in result.remote


def test_a_long_path_added_and_removed_within_one_push_is_still_caught(tmp_path: Path) -> None:
    server, clone = limited(tmp_path, "{limit: 12}")
    added = clone.commit("add", "a-very-long-name.txt")
    clone.git("rm", "-q", "a-very-long-name.txt")
    clone.commit("remove")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0 and f"commit {added[:10]} on refs/heads/main adds a-very-long-name.txt" in result.remote


def test_existing_long_paths_may_change_and_be_deleted_but_a_rename_adds_a_new_one(tmp_path: Path) -> None:
    server, clone = limited(tmp_path, "{limit: 4096}")
    clone.commit("legacy", "legacy/very/deep/path.txt", "other/long-enough.txt")
    assert clone.push("HEAD:refs/heads/main").code == 0
    server.policy_file.write_text(policy("{limit: 12}"))
    clone.write("legacy/very/deep/path.txt", "changed\n")
    clone.git("rm", "-q", "other/long-enough.txt")
    clone.commit("change one, delete another")
    assert clone.push("HEAD:refs/heads/main").code == 0
    clone.git("mv", "legacy/very/deep/path.txt", "legacy/very/deep/moved.txt")
    clone.commit("rename")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0 and "adds legacy/very/deep/moved.txt: 26 bytes, over 12" in result.remote


def test_a_path_with_control_bytes_is_shown_escaped(tmp_path: Path) -> None:
    server, clone = limited(tmp_path, "{limit: 10}")
    clone.write(b"x\nremote: [ok] forged\x1b[2K", b"x\n")
    clone.commit("odd name")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "adds x\\nremote: [ok] forged\\x1b[2K: 25 bytes, over 10" in result.remote
    assert not any(line.startswith("[ok] forged") for line in result.remote.splitlines())
    assert "\x1b" not in result.out


def test_a_tree_pushed_as_a_ref_is_judged(tmp_path: Path) -> None:
    server, clone = limited(tmp_path, "{limit: 12}")
    clone.write("models/deep/w.bin", b"w\n")
    clone.git("add", "-A")
    tree = clone.git("write-tree").out.strip()
    result = clone.push(f"{tree}:refs/tags/t")
    assert result.code != 0
    assert f"tree {tree[:10]} on refs/tags/t adds models/deep/w.bin: 17 bytes, over 12" in result.remote
    assert server.rev("refs/tags/t") is None


RULES = compile_policy(textwrap.dedent("""\
    version: 1
    rules:
      - id: short-paths
        max_path_length: {limit: 16, component: 6}
""").encode(), "memory.yml")


def judge(*paths: ChangedPath) -> dict[str, Any]:
    update = RefUpdate("a" * 40, "b" * 40, b"refs/heads/main")
    commit = Commit("b" * 40, "t" * 40, ("a" * 40,), "T", "t@example.com", paths)
    facts = MemoryFacts(Change((update,), Actor("ann", "cli", "--actor"), "push"), brings={update.ref: [commit]},
                        policy=RULES)
    [outcome] = judge_policy(RULES, facts).outcomes
    return outcome._asdict()


def test_memory_facts_judge_only_added_paths() -> None:
    outcome = judge(ChangedPath(b"aaaaaa/bbbbbb/cc", "A"), ChangedPath(b"a/very-long-old-name", "M"),
                    ChangedPath(b"a/very-long-old-name-2", "D"), ChangedPath(b"x/sub", "A", "1" * 40, "160000"))
    assert outcome["status"] == "pass"
    assert outcome["message"] == ("no new path longer than 16 bytes, no directory or file name in it longer than "
                                  "6 bytes among 2 added path(s)")


def test_memory_facts_name_each_path_too_long() -> None:
    outcome = judge(ChangedPath(b"aaaaaa/bbbbbb/ccc", "A"), ChangedPath(b"a/bbbbbbb", "A"),
                    ChangedPath(b"ok/ok", "A"))
    assert outcome["status"] == "fail" and outcome["paths"] == ("aaaaaa/bbbbbb/ccc", "a/bbbbbbb")
    assert outcome["seen"] == (f"commit {'b' * 10} on refs/heads/main adds aaaaaa/bbbbbb/ccc: 17 bytes, over 16",
                               f"commit {'b' * 10} on refs/heads/main adds a/bbbbbbb: the name bbbbbbb is 7 bytes, "
                               "over 6")
