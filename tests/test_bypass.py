"""Break-glass decided by judge(): which outcomes a bypass request changes, and when it is refused.

The change is described as data (MemoryFacts); real pushes are in tests/security/test_break_glass.py.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from engine.bypass import MAX_PUSH_OPTIONS, MAX_REASON, VIA_CLI, from_push_options, neutral
from engine.change import Actor, BypassRequest, Change, ChangedPath, Commit, Inputs, RefUpdate
from engine.decision import Decision
from engine.facts.memory import MemoryFacts
from engine.judge import judge
from engine.policy.compile import compile_policy
from tests.helpers.repos import policy_cli

OLD, NEW, TREE = "a" * 40, "b" * 40, "c" * 40
NOTES_OLD, NOTES_NEW = "d" * 40, "e" * 40
POLICY = """
version: 1
name: incidents
bypass:
  actors: [alice, oncall-bot]
  rules: [no-weights, protect-main, notebooks-trial]
rules:
  - id: no-weights
    deny_paths: ["*.gguf"]
  - id: no-secrets
    deny_paths: [".env"]
  - id: notebooks-trial
    deny_paths: ["*.ipynb"]
    enforcement: evaluate
  - id: protect-main
    refs: ["refs/heads/main"]
    deny: [deletion]
"""


def decide(paths: tuple[str, ...], *, actor: str = "alice", reason: str | None = "INC-4711: revert bad prompt",
           policy: str | dict[str, Any] = POLICY, problem: str = "",
           extra: tuple[RefUpdate, ...] = ()) -> Decision:
    """judge() on a push to main bringing one commit that adds `paths`, with a bypass request."""
    compiled = policy if isinstance(policy, dict) else compile_policy(textwrap.dedent(policy).encode(), "p.yml")
    update = RefUpdate(OLD, NEW, b"refs/heads/main")
    commit = Commit(NEW, TREE, (OLD,), "Ann", "ann@example.com", tuple(ChangedPath(p.encode(), "A") for p in paths))
    request = None if reason is None else BypassRequest(reason, VIA_CLI, problem)
    facts = MemoryFacts(Change((update, *extra), Actor(actor, "gitlab", "GL_USERNAME"), "push"),
                        brings={update.ref: [commit]}, known=[Commit(OLD, "f" * 40, (), "Ann", "a@x", ())],
                        types={NOTES_OLD: "commit", NOTES_NEW: "commit"}, policy=compiled,
                        inputs=Inputs(now=1_750_000_000.0, bypass=request))
    return judge(compiled, facts)


def statuses(decision: Decision) -> dict[str, str]:
    return {o.rule: o.status for o in decision.outcomes}


def test_a_listed_actor_with_a_reason_bypasses_exactly_the_rules_that_denied() -> None:
    decision = decide(("models/m.gguf", "analysis.ipynb", "README.md"))

    assert decision.allowed and decision.exit_code == 0
    assert statuses(decision) == {"no-weights": "bypassed", "no-secrets": "pass", "notebooks-trial": "warn",
                                  "protect-main": "pass"}
    assert decision.bypass is not None
    assert decision.bypass._asdict() == {
        "status": "granted", "actor": "alice", "reason": "INC-4711: revert bad prompt", "via": VIA_CLI,
        "message": "alice bypassed 1 rule(s): no-weights", "rules": ("no-weights",)}


def test_the_same_push_without_a_request_is_denied() -> None:
    decision = decide(("models/m.gguf",), reason=None)

    assert not decision.allowed and decision.bypass is None
    assert statuses(decision)["no-weights"] == "fail"


def test_an_actor_not_listed_is_refused_and_nothing_changes() -> None:
    decision = decide(("models/m.gguf",), actor="mallory")

    assert not decision.allowed and decision.exit_code == 1
    assert statuses(decision)["no-weights"] == "fail"
    assert decision.bypass is not None and decision.bypass.status == "refused"
    assert "mallory may not bypass rules of policy 'incidents'" in decision.bypass.message


@pytest.mark.parametrize("name", ["Alice", "alice ", "аlice", "ALICE", "alice@example.com"])
def test_actors_match_exactly_so_look_alikes_are_refused(name: str) -> None:
    decision = decide(("models/m.gguf",), actor=name)  # the third has a Cyrillic a

    assert not decision.allowed
    assert decision.bypass is not None and "may not bypass" in decision.bypass.message


@pytest.mark.parametrize("reason", ["", "   ", "\t"])
def test_an_empty_reason_is_refused_when_the_policy_requires_one(reason: str) -> None:
    decision = decide(("models/m.gguf",), reason=reason)

    assert not decision.allowed
    assert decision.bypass is not None and decision.bypass.status == "refused"
    assert "the policy requires a reason" in decision.bypass.message


def test_reason_optional_grants_without_one() -> None:
    decision = decide(("models/m.gguf",), reason="", policy=POLICY.replace(
        "rules: [no-weights, protect-main, notebooks-trial]",
        "rules: [no-weights, protect-main, notebooks-trial]\n  reason: optional"))

    assert decision.allowed
    assert decision.bypass is not None and decision.bypass.status == "granted" and decision.bypass.reason == ""


def test_a_bypass_is_all_or_nothing_when_an_unlisted_rule_also_denies() -> None:
    decision = decide(("models/m.gguf", ".env"))

    assert not decision.allowed
    assert statuses(decision)["no-weights"] == "fail" and statuses(decision)["no-secrets"] == "fail"
    assert decision.bypass is not None and decision.bypass.rules == ()
    assert decision.bypass.message == ("no-secrets cannot be bypassed (bypass.rules does not list it); "
                                       "nothing was bypassed")


def test_the_records_rule_is_never_bypassed_even_by_a_policy_that_lists_it() -> None:
    """A compiled policy that lists changegate-records (the loader refuses one; a forged cache entry
    might not) still cannot bypass it."""
    compiled = compile_policy(textwrap.dedent(POLICY).encode(), "p.yml")
    compiled["bypass"]["rules"].append("changegate-records")
    deletion = RefUpdate(NOTES_OLD, "0" * 40, b"refs/notes/changegate/approvals")

    decision = decide(("models/m.gguf",), policy=compiled, extra=(deletion,))

    assert not decision.allowed
    assert statuses(decision)["changegate-records"] == "fail" and statuses(decision)["no-weights"] == "fail"
    assert decision.bypass is not None
    assert "changegate-records is built in and can never be bypassed" in decision.bypass.message


def test_a_policy_without_a_bypass_section_refuses() -> None:
    decision = decide(("models/m.gguf",), policy=POLICY.split("bypass:")[0] + "rules:" + POLICY.split("rules:", 2)[2])

    assert not decision.allowed
    assert decision.bypass is not None
    assert "lets no one bypass its rules (it has no bypass section)" in decision.bypass.message


def test_a_request_for_a_change_that_needs_none_is_harmless() -> None:
    for actor in ("alice", "mallory"):
        decision = decide(("README.md", "analysis.ipynb"), actor=actor)

        assert decision.allowed
        assert statuses(decision) == {"no-weights": "pass", "no-secrets": "pass", "notebooks-trial": "warn",
                                      "protect-main": "pass"}
        assert decision.bypass is not None and decision.bypass.status == "unneeded"


def test_a_malformed_request_is_refused_not_guessed_at() -> None:
    decision = decide(("models/m.gguf",), problem="changegate.bypass was given 2 times: give it once")

    assert not decision.allowed
    assert decision.bypass is not None and decision.bypass.message.startswith("changegate.bypass was given 2 times")


def test_a_reason_over_the_limit_is_refused_and_recorded_cut() -> None:
    decision = decide(("models/m.gguf",), reason="x" * (MAX_REASON + 500))

    assert not decision.allowed
    assert decision.bypass is not None
    assert f"the limit is {MAX_REASON:,}" in decision.bypass.message
    assert len(decision.bypass.reason) == MAX_REASON + 1


def test_the_reason_is_neutralised_before_anyone_sees_it() -> None:
    decision = decide(("models/m.gguf",), reason="INC-1\r\nremote: [ok] all good\x1b[2K\u202e")

    assert decision.bypass is not None
    assert decision.bypass.reason == "INC-1\\r\\nremote: [ok] all good\\x1b[2K\\u202e"
    assert neutral("  spaced  ") == "spaced"


class BrokenPaths(MemoryFacts):
    """Facts whose path listing breaks, as a git error mid-push would."""

    def changes_for(self, update: RefUpdate, refs: Any) -> dict[bytes, list[tuple[Commit, str]]]:
        raise RuntimeError("the path listing broke")


def test_a_listed_rule_that_crashed_can_be_bypassed() -> None:
    """An incident is when a rule cannot judge: a listed rule's error denies, so it is bypassed like a failure."""
    compiled = compile_policy(textwrap.dedent(POLICY).encode(), "p.yml")
    compiled["rules"] = [r for r in compiled["rules"] if r["id"] in ("no-weights", "protect-main")]
    update = RefUpdate(OLD, NEW, b"refs/heads/main")
    facts = BrokenPaths(Change((update,), Actor("alice", "gitlab", "GL_USERNAME"), "push"), policy=compiled,
                        inputs=Inputs(now=0.0, bypass=BypassRequest("INC-9: the listing is down", VIA_CLI)))

    decision = judge(compiled, facts)

    assert statuses(decision) == {"no-weights": "bypassed", "protect-main": "pass"}
    assert decision.crashed == ("no-weights",)
    assert decision.allowed and decision.exit_code == 0


def env(*options: str, count: int | None = None) -> dict[str, str]:
    found = {f"GIT_PUSH_OPTION_{i}": o for i, o in enumerate(options)}
    return {**found, "GIT_PUSH_OPTION_COUNT": str(len(options) if count is None else count)}


def test_push_options_ask_only_with_changegate_bypass() -> None:
    assert from_push_options({}) is None
    assert from_push_options(env("ci.skip", "merge_request.create")) is None
    assert from_push_options(env("changegate.bypass=INC-1: why")) == BypassRequest(
        "INC-1: why", "push option changegate.bypass", "")
    assert from_push_options(env("ci.skip", "changegate.bypass")) == BypassRequest(
        "", "push option changegate.bypass", "")
    assert from_push_options(env(" Changegate.Bypass =a=b")) == BypassRequest("a=b", "push option changegate.bypass")


def test_push_options_beyond_the_count_git_set_are_not_read() -> None:
    assert from_push_options({"GIT_PUSH_OPTION_0": "changegate.bypass=x"}) is None  # no count: no -o given
    assert from_push_options(env("changegate.bypass=x", count=0)) is None
    assert from_push_options({**env("changegate.bypass=x"), "GIT_PUSH_OPTION_COUNT": "1x"}) is None
    assert from_push_options({**env("changegate.bypass=x"), "GIT_PUSH_OPTION_COUNT": "١"}) is None  # a non-ASCII digit


def test_push_options_given_twice_or_too_many_are_a_malformed_request() -> None:
    twice = from_push_options(env("changegate.bypass=a", "changegate.bypass=b"))
    assert twice is not None and twice.problem == "changegate.bypass was given 2 times: give it once"
    many = from_push_options(env("changegate.bypass=a", *["x"] * MAX_PUSH_OPTIONS))
    assert many is not None and many.problem.startswith(f"the push has {MAX_PUSH_OPTIONS + 1} push options")


def test_policy_validate_locates_bypass_mistakes(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(textwrap.dedent(POLICY).replace(
        "rules: [no-weights, protect-main, notebooks-trial]",
        'rules: [no-weights, changegate-records, no-wieghts, "*"]\n  reason: sometimes\n  who: [x]'))

    proc = policy_cli("validate", str(path))

    assert proc.returncode == 2
    err = proc.stderr.replace(str(path), "P")
    assert "P:6:55: '*' in bypass.rules[3] is not allowed: the id of a rule of this policy; no wildcards" in err
    assert "P:7:11: 'sometimes' is not allowed in bypass.reason; allowed: required, optional" in err
    assert "P:8:3: unknown key 'who' in bypass; allowed keys: actors, reason, rules" in err
    path.write_text(textwrap.dedent(POLICY).replace("notebooks-trial]", "notebooks-trial, changegate-records, nope]"))

    err = policy_cli("validate", str(path)).stderr.replace(str(path), "P")

    assert ("P:6:54: bypass.rules[3]: 'changegate-records' is one of changegate's built-in checks, "
            "which can never be bypassed") in err
    assert ("P:6:74: bypass.rules[4]: no rule of this policy has the id 'nope'; its rule ids: no-secrets, "
            "no-weights, notebooks-trial, protect-main") in err
