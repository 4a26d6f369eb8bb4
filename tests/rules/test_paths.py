"""`deny_paths:` and `when: paths`, proven with real pushes."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.policy.patterns import Matcher, compile_patterns
from tests.helpers.repos import Clone, Server
from tests.helpers.servers import server_env

POLICY = """
version: 1
name: paths-test
rules:
  - id: no-weights
    deny_paths: ["*.safetensors", "*.gguf"]
    except: {actors: [release-bot]}
    message: "Model weights belong in the model registry, not in git."
  - id: no-secrets
    deny_paths: ["secrets/**", "!secrets/README.md"]  # git: nothing below an excluded "secrets/" comes back
  - id: main-no-notebooks
    refs: ["refs/heads/main"]
    deny_paths: ["*.ipynb"]
  - id: prompts-evaluate
    refs: ["refs/heads/main"]
    when: {paths: ["prompts/**"]}
    deny_paths: ["prompts/**/*.tmp"]
    enforcement: evaluate
"""


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Server, Clone]:
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    return server, clone


def test_weights_file_is_rejected_with_the_rules_message_and_path(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    commit = clone.commit("weights", "models/llama/model.safetensors")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "[DENY] no-weights: Model weights belong in the model registry" in result.remote
    assert f"commit {commit[:10]} on refs/heads/main adds models/llama/model.safetensors" in result.remote
    assert "*.safetensors" in result.remote


def test_file_added_and_removed_within_one_push_is_still_caught(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    clone.commit("add", "model.gguf")
    clone.git("rm", "-q", "model.gguf")
    clone.commit("remove")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "adds model.gguf" in result.remote


def test_deleting_a_denied_path_is_allowed(tmp_path: Path) -> None:
    server = Server(tmp_path, POLICY.replace('"*.gguf"', '"*.gguf-never"'))
    clone = Clone(tmp_path, server)
    clone.commit("legacy", "old.gguf")
    assert clone.push("HEAD:refs/heads/main").code == 0
    server.policy_file.write_text(POLICY)
    clone.git("rm", "-q", "old.gguf")
    clone.commit("cleanup")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code == 0, result.out


def test_negated_pattern_re_includes_a_path(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    clone.commit("docs", "secrets/README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    clone.commit("key", "secrets/prod/api.key")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0 and "secrets/prod/api.key" in result.remote


def test_root_commit_of_a_first_push_is_checked(tmp_path: Path) -> None:
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.commit("initial", "weights/a.safetensors")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0 and "a.safetensors" in result.remote


def test_merge_is_judged_against_its_first_parent(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    clone.git("checkout", "-q", "-b", "side")
    clone.commit("side work", "side.txt")
    clone.git("checkout", "-q", "main")
    clone.commit("main work", "main.txt")
    clone.git("merge", "-q", "--no-edit", "side")
    assert clone.push("HEAD:refs/heads/main").code == 0
    clone.git("checkout", "-q", "-b", "side2", "HEAD~1")
    clone.commit("weights on side", "w.safetensors")
    clone.git("checkout", "-q", "main")
    clone.git("merge", "-q", "--no-edit", "side2")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0 and "adds w.safetensors" in result.remote


def test_rule_with_refs_catches_a_fast_forward_onto_a_branch_that_already_has_the_file(
        repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    clone.commit("notebook", "analysis.ipynb")
    assert clone.push("HEAD:refs/heads/topic").code == 0  # allowed: the rule covers main only
    result = clone.push("HEAD:refs/heads/main")  # the commit is no longer new to the repository
    assert result.code != 0
    assert "[DENY] main-no-notebooks" in result.remote


def test_rule_with_refs_judges_a_created_ref_against_existing_matching_refs(tmp_path: Path) -> None:
    policy = POLICY.replace('refs: ["refs/heads/main"]\n    deny_paths: ["*.ipynb"]',
                            'refs: ["refs/heads/release/*"]\n    deny_paths: ["*.ipynb"]')
    server = Server(tmp_path, policy)
    clone = Clone(tmp_path, server)
    clone.commit("notebook", "old.ipynb")
    assert clone.push("HEAD:refs/heads/main").code == 0
    result = clone.push("HEAD:refs/heads/release/1")  # no release branch carries it yet
    assert result.code != 0 and "old.ipynb" in result.remote


def test_exempt_actor_may_push_weights(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    clone.commit("release", "model.safetensors")
    result = clone.push("HEAD:refs/heads/main", env=server_env("github-enterprise", "release-bot"))
    assert result.code == 0, result.out


def test_when_paths_limits_a_rule_and_evaluate_mode_warns_without_denying(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    clone.commit("prompt", "prompts/support/system.txt", "prompts/support/draft.tmp")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code == 0, result.out
    assert "1 warning(s): prompts-evaluate" in result.remote
    record = server.audit_log.read_text().splitlines()[-1]
    assert '"status": "warn"' in record and '"enforcement": "evaluate"' in record


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("*.gguf", b"a.gguf", True),
    ("*.gguf", b"deep/down/a.gguf", True),          # no slash: any depth
    ("/top.txt", b"top.txt", True),
    ("/top.txt", b"sub/top.txt", False),             # leading slash anchors
    ("docs/*.md", b"docs/a.md", True),
    ("docs/*.md", b"docs/sub/a.md", False),          # * stays in one directory
    ("docs/**/*.md", b"docs/sub/deeper/a.md", True),  # ** crosses directories
    ("secrets/", b"secrets/a/b.key", True),          # a matched directory covers its contents
    ("secrets/", b"notsecrets/a", False),
    ("caf\u00e9/*", "caf\u00e9/x".encode(), True),
    ("*.bin", b"weird name\nwith newline.bin", True),
])
def test_pattern_semantics_follow_gitignore(pattern: str, path: bytes, matches: bool) -> None:
    assert Matcher(compile_patterns([pattern]), [pattern]).match(path) is matches
