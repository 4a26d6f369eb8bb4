"""`require: {commit_metadata: ...}` through real pushes into a bare repository with the hook: message
and e-mail patterns, a pattern that would hang a backtracking engine, and "the committer is the
pusher" for a GitLab push (GL_USERNAME), with and without trust.identities."""

from __future__ import annotations

import time
from pathlib import Path

from tests.helpers.repos import Clone, Server, policy_cli, protected
from tests.helpers.servers import server_env

IDENTITIES = """\
version: 1
people:
  ann:
    users: [ann]
    emails: [ann@example.com]
  eve:
    users: [eve]
    emails: [eve@example.com]
"""


def policy(body: str, trust: str = "") -> str:
    return (f"version: 1\nname: meta\n{trust}rules:\n  - id: meta\n    refs: [refs/heads/main]\n"
            f"    require:\n      commit_metadata: {body}\n")


def judged_by(root: Path, body: str, trust: str = "") -> tuple[Server, Clone]:
    """A server whose first commit is in, now judging by `body`."""
    server, clone = protected(root, "version: 1\nname: open\nrules:\n  - id: none\n    deny: [deletion]\n")
    server.policy_file.write_text(policy(body, trust))
    return server, clone


def test_message_pattern_through_a_push(tmp_path: Path) -> None:
    _, clone = judged_by(tmp_path, "{message: '^(feat|fix)(\\(.+\\))?: .+'}")
    clone.commit("fix(prompts): tone down the system prompt", "a.txt")
    assert clone.push("HEAD:refs/heads/main").code == 0
    good = clone.commit("feat: add eval", "b.txt")
    bad = clone.commit("WIP", "c.txt")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "1 of 2 new commit(s) break the commit metadata rules" in result.remote
    assert f"commit {bad[:10]} on refs/heads/main by Ann Author <ann@example.com>: message 'WIP' does not match" \
        in result.remote
    assert good[:10] not in result.remote


def test_email_patterns_through_a_push(tmp_path: Path) -> None:
    _, clone = judged_by(tmp_path, "{author_email: '@example\\.com$', committer_email: '@example\\.com$'}")
    clone.commit("fine", "a.txt")
    assert clone.push("HEAD:refs/heads/main").code == 0
    clone.write("b.txt", "b\n")
    clone.git("add", "-A")
    clone.git("commit", "-q", "-m", "outside", env={"GIT_AUTHOR_EMAIL": "ann@example.com.evil.org"})
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "author email <ann@example.com.evil.org> does not match @example\\.com$" in result.remote


def test_a_backtracking_bomb_pattern_is_judged_in_linear_time(tmp_path: Path) -> None:
    """^(a+)+$ against 'aaaa…!' takes exponential time in a backtracking engine (Python's re would
    not finish 30 characters in a minute); RE2 judges a 100,000-character message at once."""
    _, clone = judged_by(tmp_path, "{message: '^(a+)+$'}")
    clone.git("commit", "-q", "--allow-empty", "-m", "a" * 100_000 + "!")
    started = time.perf_counter()
    result = clone.push("HEAD:refs/heads/main")
    assert time.perf_counter() - started < 10
    assert result.code != 0 and "does not match ^(a+)+$" in result.remote


def test_a_pattern_re2_cannot_compile_stops_the_policy_not_the_server(tmp_path: Path) -> None:
    """A lookahead is rejected when the policy loads: the push is denied with the file and line."""
    server, clone = judged_by(tmp_path, "{message: '^(?!WIP)'}")
    clone.commit("feat: x", "a.txt")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0 and "the policy is invalid" in result.remote and "policy.yml:7:34:" in result.remote
    checked = policy_cli("validate", str(server.policy_file))
    assert checked.returncode == 2
    assert f"{server.policy_file}:7:34: rules[0].require.commit_metadata.message: '^(?!WIP)' is not an RE2 " \
           "regular expression (invalid perl operator: (?!" in checked.stdout + checked.stderr


def test_committer_is_pusher_with_identities(tmp_path: Path) -> None:
    (tmp_path / "identities.yml").write_text(IDENTITIES)
    trust = "trust: {allowed_signers: allowed_signers, identities: identities.yml}\n"
    _, clone = judged_by(tmp_path, "{committer_is_pusher: true}", trust)
    commit = clone.commit("by ann", "a.txt")
    result = clone.push("HEAD:refs/heads/main", env=server_env("gitlab", "eve"))
    assert result.code != 0
    assert f"commit {commit[:10]} on refs/heads/main by Ann Author <ann@example.com>: committed by " \
           "<ann@example.com>, which" in result.remote
    assert "does not list for the pusher eve" in result.remote
    assert clone.push("HEAD:refs/heads/main", env=server_env("gitlab", "ann")).code == 0


def test_committer_is_pusher_without_identities_denies_when_unsure(tmp_path: Path) -> None:
    _, clone = judged_by(tmp_path, "{committer_is_pusher: true}")
    clone.commit("by ann", "a.txt")
    result = clone.push("HEAD:refs/heads/main", env=server_env("gitlab", "ann"))
    assert result.code != 0
    assert "the policy names no trust.identities to tell whether user ann is that person" in result.remote
    assert clone.push("HEAD:refs/heads/main", env=server_env("gitlab", "ann@example.com")).code == 0
