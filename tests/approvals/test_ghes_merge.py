"""The GitHub Enterprise Server merge button: the hook reads approvals from GitHub only when the
merge-button environment is present and the policy configures sources.github."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.approvals.conftest import Repo
from tests.helpers.fake_github import FakeGitHub, fake_ghes
from tests.helpers.servers import server_env

__all__ = ["fake_ghes"]

MERGE_ENV = {**server_env("github-enterprise", "ann"), "GITHUB_VIA": "pull request merge button",
             "GITHUB_PULL_REQUEST_HEAD": "ann:feature", "GITHUB_PULL_REQUEST_BASE": "acme:main",
             "GITHUB_REPO_NAME": "acme/bot"}
RULE = """
rules:
  - id: prompts-need-review
    refs: ["refs/heads/main"]
    when: {paths: ["prompts/**"]}
    require:
      approvals: {count: 1, from: {signers: [alice@example.com], users: [alice]}}
"""


def test_merge_button_push_reads_github_and_fails_closed_without_a_token(
        make_repo: Callable[[str], Repo], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    repo = make_repo('version: 1\nname: ghes\ntrust: {allowed_signers: allowed_signers}\n'
                     'sources: {github: {api: "http://127.0.0.1:9/api/v3"}}\n' + RULE)
    commit = repo.propose("prompts/a.txt")
    repo.approve("alice@example.com", commit)  # a signed record does not count when GitHub is the source
    result = repo.author.push("HEAD:refs/heads/main", env=MERGE_ENV)
    assert result.code != 0
    assert "[ERROR] prompts-need-review: approvals of the pull request cannot be read" in result.remote
    assert "$GITHUB_TOKEN is not set" in result.remote


def test_merge_button_env_without_sources_github_uses_signed_records(make_repo: Callable[[str], Repo]) -> None:
    repo = make_repo("version: 1\nname: ghes\ntrust: {allowed_signers: allowed_signers}\n" + RULE)
    commit = repo.propose("prompts/a.txt")
    repo.approve("alice@example.com", commit)
    result = repo.author.push("HEAD:refs/heads/main", env=MERGE_ENV)
    assert result.code == 0, result.out


def test_ordinary_push_never_contacts_github_even_with_sources_github(
        make_repo: Callable[[str], Repo], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    repo = make_repo('version: 1\nname: ghes\ntrust: {allowed_signers: allowed_signers}\n'
                     'sources: {github: {api: "http://127.0.0.1:9/api/v3"}}\n' + RULE)
    commit = repo.propose("prompts/a.txt")
    repo.approve("alice@example.com", commit)
    code, out = repo.push_main()
    assert code == 0, out


@pytest.mark.parametrize("approved", [True, False])
def test_merge_button_push_finds_its_pull_request_and_is_judged_by_its_reviews(
        make_repo: Callable[[str], Repo], fake_ghes: FakeGitHub, approved: bool) -> None:
    repo = make_repo('version: 1\nname: ghes\ntrust: {allowed_signers: allowed_signers}\n'
                     f'sources: {{github: {{api: "{fake_ghes.url}"}}}}\n' + RULE)
    commit = repo.propose("prompts/a.txt")
    fake_ghes.add_pull("acme", "bot", 12, head_sha=commit, head_ref="feature", head_repo="ann/bot",
                       base_ref="main", author="ann")
    fake_ghes.add_pull("acme", "bot", 13, head_sha="c" * 40, head_ref="other", head_repo="ann/bot", base_ref="main")
    fake_ghes.add_files("acme", "bot", 12, ["prompts/a.txt"])
    fake_ghes.add_commit("acme", "bot", 12, sha=commit, author_login="ann")
    if approved:
        fake_ghes.add_review("acme", "bot", 12, user="alice", state="APPROVED", commit_id=commit)
    result = repo.author.push("HEAD:refs/heads/main", env={**MERGE_ENV, "GITHUB_TOKEN": "test-token"})
    assert (result.code == 0) is approved, result.out
    listed = fake_ghes.requests_to("/repos/acme/bot/pulls")
    assert listed and listed[0].query["head"] == "ann:feature" and listed[0].query["base"] == "main"
    if not approved:
        assert "prompts-need-review" in result.remote
