"""Break-glass through real pushes: `git push -o changegate.bypass=REASON` into a bare repository with the hook.

An on-call engineer the policy names pushes past the rules it lists, with a reason, and the audit
log holds who, why and which rules; everyone and everything else is refused: another pusher, no
reason, a rule the policy does not list, the built-in records rule, a pusher who spoofs the
server's variables or the push options, a reason that tries to forge terminal or log lines.
The pusher is named by the server's own variables (GitLab's here, tests/helpers/servers.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.repos import Clone, Result, Server, git, policy_cli
from tests.helpers.servers import server_env

POLICY = """
version: 1
name: incidents
bypass:
  actors: [alice, oncall-bot]
  rules: [no-weights, prompts-frozen]
  reason: required
rules:
  - id: no-weights
    deny_paths: ["*.gguf"]
  - id: prompts-frozen
    refs: ["refs/heads/main"]
    deny_paths: ["prompts/"]
    message: "Prompts are frozen during the release."
  - id: protect-main
    refs: ["refs/heads/main"]
    deny: [non_fast_forward, deletion]
"""
ALICE = server_env("gitlab", "alice")
MALLORY = server_env("gitlab", "mallory")
REASON = "INC-4711: revert bad prompt"


@pytest.fixture
def repo(tmp_path: Path) -> tuple[Server, Clone]:
    server = Server(tmp_path, POLICY)
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main", env=ALICE).code == 0
    return server, clone


def last_entry(server: Server) -> dict[str, Any]:
    entry: dict[str, Any] = json.loads(server.audit_log.read_text().splitlines()[-1])
    return entry


def statuses(entry: dict[str, Any]) -> dict[str, str]:
    return {o["rule"]: o["status"] for o in entry["outcomes"]}


def push_with(clone: Clone, env: dict[str, str], *options: str, ref: str = "HEAD:refs/heads/main") -> Result:
    return clone.push(*[arg for option in options for arg in ("-o", option)], ref, env=env)


def test_hook_install_switches_push_options_on(repo: tuple[Server, Clone]) -> None:
    server, _ = repo
    assert git("config", "receive.advertisePushOptions", cwd=server.path).out.strip() == "true"


def test_a_listed_actor_with_a_reason_pushes_past_the_listed_rules_on_the_record(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    tip = clone.commit("revert the prompt", "prompts/system.txt", "models/adapter.gguf")
    assert clone.push("HEAD:refs/heads/main", env=ALICE).code != 0  # without asking: denied

    pushed = push_with(clone, ALICE, f"changegate.bypass={REASON}")

    assert pushed.code == 0, pushed.out
    assert server.rev("refs/heads/main") == tip
    assert ("changegate: BYPASS: push allowed by policy 'incidents' only because alice bypassed 2 rule(s) "
            "that denied it: no-weights, prompts-frozen") in pushed.remote
    assert f"changegate: bypass reason: {REASON}" in pushed.remote
    assert "[BYPASSED] no-weights: 1 denied path change(s) in new commits" in pushed.remote
    assert "[BYPASSED] prompts-frozen: Prompts are frozen during the release." in pushed.remote
    assert "[DENY]" not in pushed.remote
    entry = last_entry(server)
    assert entry["allowed"] is True and entry["exit_code"] == 0
    assert entry["actor"] == {"name": "alice", "server": "gitlab", "source": "GL_USERNAME"}
    assert entry["bypass"] == {"status": "granted", "actor": "alice", "reason": REASON,
                               "via": "push option changegate.bypass", "rules": ["no-weights", "prompts-frozen"],
                               "message": "alice bypassed 2 rule(s): no-weights, prompts-frozen"}
    assert statuses(entry) == {"no-weights": "bypassed", "prompts-frozen": "bypassed", "protect-main": "pass"}


def test_another_pusher_is_told_they_may_not_bypass(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    before = server.rev("refs/heads/main")
    clone.commit("weights", "models/m.gguf")

    pushed = push_with(clone, MALLORY, f"changegate.bypass={REASON}")

    assert pushed.code != 0 and server.rev("refs/heads/main") == before
    assert "changegate: push rejected by policy 'incidents' (1 rule(s) failed)" in pushed.remote
    assert ("changegate: bypass refused: mallory may not bypass rules of policy 'incidents' "
            "(bypass.actors does not list them); nothing was bypassed") in pushed.remote
    assert "[DENY] no-weights:" in pushed.remote
    entry = last_entry(server)  # the attempt is on the record too
    assert entry["allowed"] is False and entry["bypass"]["status"] == "refused"
    assert entry["bypass"]["actor"] == "mallory" and entry["bypass"]["reason"] == REASON


@pytest.mark.parametrize("option", ["changegate.bypass", "changegate.bypass=", "changegate.bypass=   "])
def test_a_bypass_without_a_reason_is_refused(repo: tuple[Server, Clone], option: str) -> None:
    server, clone = repo
    clone.commit("weights", "models/m.gguf")

    pushed = push_with(clone, ALICE, option)

    assert pushed.code != 0
    assert ('bypass refused: the policy requires a reason: git push -o changegate.bypass="INC-123: what and why"'
            in pushed.remote)
    assert "[DENY] no-weights:" in pushed.remote
    assert last_entry(server)["bypass"]["status"] == "refused"


def test_a_rule_the_policy_does_not_list_still_denies_and_nothing_is_bypassed(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    before = server.rev("refs/heads/main")
    clone.git("commit", "-q", "--amend", "-m", "rewritten")  # a force push: protect-main, not listed
    clone.commit("weights", "models/m.gguf")

    pushed = push_with(clone, ALICE, f"changegate.bypass={REASON}", ref="+HEAD:refs/heads/main")

    assert pushed.code != 0 and server.rev("refs/heads/main") == before
    assert ("bypass refused: protect-main cannot be bypassed (bypass.rules does not list it); "
            "nothing was bypassed") in pushed.remote
    assert "[DENY] no-weights:" in pushed.remote and "[DENY] protect-main:" in pushed.remote
    assert statuses(last_entry(server)) == {"no-weights": "fail", "prompts-frozen": "pass", "protect-main": "fail"}


def test_records_can_never_be_bypassed(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    notes = "refs/notes/changegate/approvals"
    clone.git("notes", "--ref=changegate/approvals", "add", "-m", "bob requested changes", "HEAD")
    assert clone.push(notes, env=ALICE).code == 0
    clone.commit("weights", "models/m.gguf")

    pushed = push_with(clone, ALICE, f"changegate.bypass={REASON}", ref=f":{notes}")
    both = clone.push("-o", f"changegate.bypass={REASON}", f":{notes}", "HEAD:refs/heads/main", env=ALICE)

    assert pushed.code != 0 and both.code != 0 and server.rev(notes) is not None
    assert "bypass refused: changegate-records is built in and can never be bypassed" in pushed.remote
    assert "bypass refused: changegate-records is built in and can never be bypassed" in both.remote
    assert "[DENY] changegate-records:" in both.remote and "[DENY] no-weights:" in both.remote


def test_a_policy_without_a_bypass_section_refuses_everyone(tmp_path: Path) -> None:
    server = Server(tmp_path, POLICY.replace("bypass:\n  actors: [alice, oncall-bot]\n"
                                             "  rules: [no-weights, prompts-frozen]\n  reason: required\n", ""))
    clone = Clone(tmp_path, server)
    clone.commit("weights", "models/m.gguf")

    pushed = push_with(clone, ALICE, f"changegate.bypass={REASON}")

    assert pushed.code != 0
    assert "bypass refused: policy 'incidents' lets no one bypass its rules (it has no bypass section)" in pushed.remote


def test_a_request_for_a_push_that_needs_none_passes_and_says_so(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    clone.commit("docs", "docs/runbook.md")

    pushed = push_with(clone, MALLORY, f"changegate.bypass={REASON}")

    assert pushed.code == 0
    assert ("changegate: bypass not used: no rule denied this change, so nothing was bypassed"
            in pushed.remote)
    entry = last_entry(server)
    assert entry["bypass"]["status"] == "unneeded" and "bypassed" not in statuses(entry).values()


def test_a_reason_cannot_forge_lines_on_the_terminal_or_in_the_log(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    clone.commit("weights", "models/m.gguf")
    forged = "INC-1\rremote: [ok] nothing bypassed\x1b[2K\x1b[1A\u202e"  # git itself refuses a newline

    pushed = push_with(clone, ALICE, f"changegate.bypass={forged}")

    assert pushed.code == 0
    assert "\x1b" not in pushed.out and "\r" not in pushed.out and "\u202e" not in pushed.out
    assert ("changegate: bypass reason: INC-1\\rremote: [ok] nothing bypassed\\x1b[2K\\x1b[1A\\u202e"
            in pushed.remote)
    log = server.audit_log.read_bytes()
    assert b"\x1b" not in log and b"\r" not in log and log.isascii()
    assert last_entry(server)["bypass"]["reason"] == "INC-1\\rremote: [ok] nothing bypassed\\x1b[2K\\x1b[1A\\u202e"


def test_asking_twice_is_refused(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    clone.commit("weights", "models/m.gguf")

    pushed = push_with(clone, ALICE, "changegate.bypass=INC-1: a", "changegate.bypass=INC-2: b")

    assert pushed.code != 0
    assert "bypass refused: changegate.bypass was given 2 times: give it once" in pushed.remote


def test_push_option_variables_the_pusher_sets_themselves_ask_nothing(repo: tuple[Server, Clone]) -> None:
    """Over a local transport the hook inherits the pusher's environment; git sets (or clears)
    GIT_PUSH_OPTION_COUNT itself, so variables the pusher made up without -o are never read."""
    server, clone = repo
    clone.commit("weights", "models/m.gguf")
    spoof = {**ALICE, "GIT_PUSH_OPTION_COUNT": "1", "GIT_PUSH_OPTION_0": f"changegate.bypass={REASON}"}

    pushed = clone.push("HEAD:refs/heads/main", env=spoof)

    assert pushed.code != 0 and "bypass" not in pushed.remote
    assert last_entry(server)["bypass"] is None


def test_a_pusher_cannot_name_themselves_a_bypass_actor(tmp_path: Path, repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    clone.commit("weights", "models/m.gguf")
    # half of GitLab's variables (no server sets only these): who is pushing cannot be told
    partial = push_with(clone, {"GL_USERNAME": "alice"}, f"changegate.bypass={REASON}")
    assert partial.code != 0 and "cannot tell who is pushing" in partial.remote
    assert last_entry(server)["error"] == "unknown-pusher"
    # pinned to GitLab: GitHub Enterprise's variables naming alice beside GitLab's naming mallory do not count
    proc = policy_cli("hook", "install", "--repo", str(server.path), "--policy", str(server.policy_file),
                      "--server", "gitlab")
    assert proc.returncode == 0, proc.stderr

    pushed = push_with(clone, {**MALLORY, **server_env("github-enterprise", "alice")}, f"changegate.bypass={REASON}")

    assert pushed.code != 0 and "mallory may not bypass" in pushed.remote
    assert last_entry(server)["actor"]["name"] == "mallory"


def test_reason_optional_lets_a_listed_actor_ask_without_one(tmp_path: Path) -> None:
    server = Server(tmp_path, POLICY.replace("reason: required", "reason: optional"))
    clone = Clone(tmp_path, server)
    clone.commit("weights", "models/m.gguf")

    pushed = push_with(clone, server_env("gitlab", "oncall-bot"), "changegate.bypass")

    assert pushed.code == 0, pushed.out
    assert "changegate: bypass reason: (none given)" in pushed.remote
    assert last_entry(server)["bypass"]["reason"] == ""


def test_policy_check_bypass_reaches_the_same_decision(repo: tuple[Server, Clone]) -> None:
    server, clone = repo
    old = clone.head()
    clone.commit("weights", "models/m.gguf")

    def check(*extra: str) -> tuple[int, dict[str, Any]]:
        proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(server.policy_file),
                          "--ref", "refs/heads/main", "--old", old, "--new", "HEAD", "--format", "json", *extra)
        return proc.returncode, json.loads(proc.stdout)

    code, granted = check("--actor", "alice", "--bypass", REASON)
    assert code == 0 and granted["allowed"] is True
    assert granted["bypass"] == {"status": "granted", "actor": "alice", "reason": REASON, "via": "--bypass",
                                 "rules": ["no-weights"], "message": "alice bypassed 1 rule(s): no-weights"}
    assert statuses(granted)["no-weights"] == "bypassed"
    code, other = check("--actor", "mallory", "--bypass", REASON)
    assert code == 1 and "mallory may not bypass" in other["bypass"]["message"]
    code, empty = check("--actor", "alice", "--bypass", "")
    assert code == 1 and "requires a reason" in empty["bypass"]["message"]
    code, none = check("--actor", "alice")
    assert code == 1 and none["bypass"] is None
    text = policy_cli("check", "--repo", str(clone.path), "--policy", str(server.policy_file), "--ref",
                      "refs/heads/main", "--old", old, "--new", "HEAD", "--actor", "alice", "--bypass", REASON)
    assert text.returncode == 0
    assert "changegate: BYPASS: push allowed by policy 'incidents' only because alice bypassed" in text.stdout
    assert "  BYPASSED no-weights: 1 denied path change(s) in new commits" in text.stdout

    pushed = push_with(clone, ALICE, f"changegate.bypass={REASON}")

    recorded = last_entry(server)
    assert pushed.code == 0
    assert (recorded["bypass"]["rules"], recorded["outcomes"]) == (granted["bypass"]["rules"], granted["outcomes"])


def test_through_gitolite_the_authenticated_user_is_the_one_who_may_bypass(tmp_path: Path) -> None:
    """A real Gitolite (ssh stand-in, gitolite-shell, its own update hook): push options travel over its
    transport, and the pusher is the user Gitolite authenticated, whatever the push option says."""
    from tests.helpers.gitolite import Gitolite

    (tmp_path / "server").mkdir()
    gitolite = Gitolite(tmp_path / "server")
    repo = gitolite.create("incidents")
    (tmp_path / "policy.yml").write_text(POLICY)
    installed = policy_cli("hook", "install", "--repo", str(repo), "--policy", str(tmp_path / "policy.yml"))
    assert installed.returncode == 0, installed.stderr
    clones = {}
    for user in ("bob", "alice"):  # alice clones what bob pushed first
        clones[user] = Clone.__new__(Clone)
        clones[user].path = tmp_path / f"clone-{user}"
        branch = ["-b", "main"] if user == "alice" else []
        git("clone", "-q", *branch, gitolite.url("incidents"), str(clones[user].path), cwd=tmp_path,
            env=gitolite.env(user))
        if user == "bob":
            clones["bob"].commit("init", "README.md")
            assert clones["bob"].push("HEAD:refs/heads/main", env=gitolite.env("bob")).code == 0
    clones["bob"].commit("weights", "models/m.gguf")

    refused = push_with(clones["bob"], gitolite.env("bob"), f"changegate.bypass={REASON} (for alice)")
    tip = clones["alice"].commit("weights", "models/m.gguf")
    granted = push_with(clones["alice"], gitolite.env("alice"), f"changegate.bypass={REASON}")

    assert refused.code != 0 and "bob may not bypass rules of policy 'incidents'" in refused.remote
    assert granted.code == 0, granted.out
    assert "only because alice bypassed 1 rule(s) that denied it: no-weights" in granted.remote
    assert git("rev-parse", "refs/heads/main", cwd=repo).out.strip() == tip
    entries = [json.loads(line) for line in (repo / "changegate" / "audit.jsonl").read_text().splitlines()]
    assert [(e["actor"]["name"], e["actor"]["server"], e["bypass"]["status"]) for e in entries[-2:]] == [
        ("bob", "gitolite", "refused"), ("alice", "gitolite", "granted")]


def test_a_push_that_lists_its_own_pusher_in_the_policy_cannot_use_that_grant(tmp_path: Path) -> None:
    """The policy comes from the protected ref as it was before the push: adding yourself to
    bypass.actors in the pushed policy grants nothing to the push that carries it."""
    server = Server(tmp_path, POLICY, policy_ref="refs/heads/main:.changegate/policy.yml")
    clone = Clone(tmp_path, server)
    clone.write(".changegate/policy.yml", POLICY)
    clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main", env=MALLORY).code == 0
    clone.write(".changegate/policy.yml", POLICY.replace("actors: [alice, oncall-bot]", "actors: [mallory]"))
    clone.commit("weights, and a policy that lets me", "models/m.gguf")

    pushed = push_with(clone, MALLORY, f"changegate.bypass={REASON}")

    assert pushed.code != 0
    assert "mallory may not bypass rules of policy 'incidents'" in pushed.remote
    assert last_entry(server)["policy"]["source"].startswith("refs/heads/main:")
