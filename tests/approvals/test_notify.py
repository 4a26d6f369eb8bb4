"""`notify: {webhook: URL}`: one JSON message when approvals are missing, sent to a real local
HTTP receiver; a failing webhook is mentioned but never changes the verdict."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.approvals.conftest import Repo
from tests.approvals.test_github_pr import PullRequest, outcome
from tests.helpers.fake_github import FakeGitHub
from tests.helpers.webhook import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.stop()


def test_missing_approvals_post_one_message_naming_the_eligible_approvers(
        tmp_path: Path, fake_github: FakeGitHub, receiver: Receiver) -> None:
    pr = PullRequest(tmp_path, fake_github, count=2, webhook=receiver.url)
    pr.review("alice", "APPROVED")
    code, report = pr.check()
    assert code == 1
    [message] = receiver.messages
    assert message["path"] == "/hooks/secret-token"
    assert message["content_type"] == "application/json"
    body = message["body"]
    assert body["event"] == "approvals_missing"
    assert body["rule"] == "prompts-need-ml-leads"
    assert body["pull_request"] == "acme/bot#7"
    assert body["needed"] == 1 and body["valid"] == ["alice"]
    assert body["eligible_approvers"] == ["members of acme/ml-leads"]
    o = outcome(report)
    assert o["message"].endswith(f"notified http://127.0.0.1:{receiver.server.server_port}")
    assert "secret-token" not in o["message"]


def test_no_message_when_approvals_are_complete(tmp_path: Path, fake_github: FakeGitHub, receiver: Receiver) -> None:
    pr = PullRequest(tmp_path, fake_github, webhook=receiver.url)
    pr.review("alice", "APPROVED")
    code, _ = pr.check()
    assert code == 0
    assert receiver.messages == []


def test_unreachable_webhook_is_reported_and_the_verdict_stands(tmp_path: Path, fake_github: FakeGitHub) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    pr = PullRequest(tmp_path, fake_github, webhook=f"http://127.0.0.1:{port}/x")
    code, report = pr.check()
    assert code == 1
    o = outcome(report)
    assert o["status"] == "fail"
    assert f"notifying http://127.0.0.1:{port} failed" in o["message"]


def test_rejected_push_notifies_with_the_signers_who_can_approve(
        make_repo: Callable[[str], Repo], receiver: Receiver) -> None:
    repo = make_repo(f"""
version: 1
name: notify-test
trust: {{allowed_signers: allowed_signers}}
rules:
  - id: prompts-need-review
    refs: ["refs/heads/main"]
    when: {{paths: ["prompts/**"]}}
    require:
      approvals: {{count: 1, from: {{signers: [alice@example.com, bob@example.com]}},
                  notify: {{webhook: "{receiver.url}"}}}}
""")
    commit = repo.propose("prompts/a.txt")
    code, out = repo.push_main()
    assert code != 0
    [message] = receiver.messages
    assert message["body"]["eligible_approvers"] == ["alice@example.com", "bob@example.com"]
    assert message["body"]["commit"] == commit
    assert message["body"]["ref"] == "refs/heads/main"
    assert "notified http://127.0.0.1" in out
