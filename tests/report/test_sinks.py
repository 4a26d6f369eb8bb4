"""Sinks: judging sends nothing; a notice is delivered after the decision is recorded, and in the
push hook only within what is left of the time budget. Real repositories, a real HTTP receiver."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.change import Actor, Change, RefUpdate
from engine.decision import Decision, Notice, Outcome
from engine.facts.gitfacts import GitFacts
from engine.git import Git
from engine.judge import judge
from engine.policy.compile import compile_policy
from engine.policy.source import from_file
from engine.report import sinks
from tests.helpers.repos import policy_cli, protected
from tests.helpers.webhook import Receiver


def policy(url: str) -> str:
    return f"""version: 1
name: notice-test
rules:
  - id: main-needs-approval
    refs: ["refs/heads/main"]
    when: {{paths: ["prompts/**"]}}
    require:
      approvals: {{count: 1, notify: {{webhook: "{url}"}}}}
"""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.stop()


def test_judging_sends_nothing_and_delivering_sends_the_notice(tmp_path: Path, receiver: Receiver) -> None:
    server, clone = protected(tmp_path, policy(receiver.url))
    old = clone.head()
    new = clone.commit("change", "prompts/a.txt")
    source = from_file(str(server.policy_file))
    compiled = compile_policy(source.data, source.name)
    facts = GitFacts(Git(str(clone.path / ".git")), Change((RefUpdate(old, new, b"refs/heads/main"),),
                                                         Actor("ann", "cli", "test"), "push"),
                  server_refs=[(b"refs/heads/main", old)], policy=compiled, source=source)

    decision = judge(compiled, facts)

    [outcome] = decision.outcomes
    assert outcome.status == "fail" and outcome.notice is not None
    assert outcome.notice.payload["event"] == "approvals_missing" and outcome.notice.payload["commit"] == new
    time.sleep(0.2)
    assert receiver.messages == []
    delivered = sinks.deliver(decision)
    [message] = receiver.messages
    assert message["body"] == outcome.notice.payload
    assert delivered.outcomes[0].message == f"{outcome.message}; notified http://127.0.0.1:{receiver.port}"


def test_a_notice_is_not_sent_when_the_decision_cannot_be_recorded(tmp_path: Path, receiver: Receiver) -> None:
    server, clone = protected(tmp_path, policy(receiver.url))
    clone.commit("change", "prompts/a.txt")
    full = tmp_path / "log"
    full.symlink_to("/dev/full")  # every write fails: no space left on device
    proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(server.policy_file), "--ref",
                      "refs/heads/main", "--new", "HEAD", "--actor", "ann", "--audit-log", str(full))
    assert proc.returncode == 3
    assert "could not be recorded" in proc.stderr
    time.sleep(0.2)
    assert receiver.messages == []


def test_no_time_left_means_no_post_and_says_so(receiver: Receiver) -> None:
    decision = Decision("p", "sha256:0", "push", Actor("ann", "cli", "test"), (), (
        Outcome("r", "fail", "approvals missing", notice=Notice(receiver.url, {"event": "approvals_missing"})),))
    delivered = sinks.deliver(decision, deadline=time.monotonic() - 1)
    assert delivered.outcomes[0].message == (
        f"approvals missing; http://127.0.0.1:{receiver.port} not notified: the time budget was used up")
    time.sleep(0.2)
    assert receiver.messages == []


def test_the_hook_notifies_after_recording_and_never_past_its_time_budget(tmp_path: Path) -> None:
    audit_log = tmp_path / "server.git" / "changegate" / "audit.jsonl"  # where Server puts it
    slow = Receiver(drip=True, on_post=lambda: len(audit_log.read_text().splitlines()))
    budget = 2.0
    try:
        server, clone = protected(tmp_path, policy(slow.url))
        proc = policy_cli("hook", "install", "--repo", str(server.path), "--policy", str(server.policy_file),
                          "--time-budget", str(budget))
        assert proc.returncode == 0, proc.stderr
        before = len(audit_log.read_text().splitlines())
        clone.commit("change", "prompts/a.txt")
        started = time.monotonic()
        result = clone.push("HEAD:refs/heads/main")
        took = time.monotonic() - started
    finally:
        slow.stop()
    assert result.code != 0
    assert f"notifying http://127.0.0.1:{slow.port} failed: no answer within the time budget" in result.remote
    assert took < budget + 2.0, f"the push took {took:.1f} s with a time budget of {budget:g} s"
    [message] = slow.messages
    assert message["body"]["event"] == "approvals_missing"
    assert message["on_post"] == before + 1, "the POST arrived before the verdict was recorded"
    last = json.loads(audit_log.read_text().splitlines()[-1])
    assert last["allowed"] is False and last["outcomes"][0]["rule"] == "main-needs-approval"
