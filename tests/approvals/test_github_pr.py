"""Approvals read from a GitHub pull request: the real `policy check --github-pr` against the
local fake GitHub, which validates every request and response against GitHub's OpenAPI description."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.fake_github import FakeGitHub
from tests.helpers.repos import git, policy_cli

OWNER, REPO, NUMBER = "acme", "bot", 7
PR = f"{OWNER}/{REPO}#{NUMBER}"
POLICY = """
version: 1
name: pr-approvals
sources: {{github: {{api: "{api}", token_env: GITHUB_TOKEN}}}}
rules:
  - id: prompts-need-ml-leads
    on: [merge]
    refs: ["refs/heads/main"]
    when: {{paths: ["prompts/**"]}}
    require:
      approvals: {{count: {count}, from: {{users: [alice], teams: [acme/ml-leads]}}{notify}}}
  - id: serving-needs-sre
    on: [merge]
    refs: ["refs/heads/main"]
    when: {{paths: ["serving/**"]}}
    require:
      approvals: {{count: 1, from: {{teams: [acme/sre]}}}}
"""


class PullRequest:
    """A local repository holding the PR's base and head, a policy, and the PR on the fake GitHub."""

    def __init__(self, root: Path, github: FakeGitHub, files: tuple[str, ...] = ("prompts/system.txt",),
                 *, author: str = "octocat", count: int = 1, webhook: str | None = None) -> None:
        self.root, self.github = root, github
        self.work = root / "work"
        git("init", "-q", "-b", "main", str(self.work), cwd=root)
        (self.work / "README.md").write_text("base\n")
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", "base", cwd=self.work)
        self.base = git("rev-parse", "HEAD", cwd=self.work).out.strip()
        for name in files:
            (self.work / name).parent.mkdir(parents=True, exist_ok=True)
            (self.work / name).write_text("change\n")
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", "change", cwd=self.work)
        self.head = git("rev-parse", "HEAD", cwd=self.work).out.strip()
        notify = f", notify: {{webhook: \"{webhook}\"}}" if webhook else ""
        self.policy = root / "policy.yml"
        self.policy.write_text(POLICY.format(api=github.url, count=count, notify=notify))
        github.add_pull(OWNER, REPO, NUMBER, head_sha=self.head, base_sha=self.base, author=author)
        github.add_files(OWNER, REPO, NUMBER, files)
        github.add_team_member("acme", "ml-leads", "carol")
        github.add_team_member("acme", "sre", "sam")

    def review(self, user: str, state: str, commit_id: str | None = None) -> None:
        self.github.add_review(OWNER, REPO, NUMBER, user=user, state=state, commit_id=commit_id)

    def check(self, token: str | None = None) -> tuple[int, dict[str, Any]]:
        result = policy_cli("check", "--repo", str(self.work), "--policy", str(self.policy), "--ref", "refs/heads/main",
                            "--old", self.base, "--new", self.head, "--stage", "merge", "--github-pr", PR,
                            "--actor", "ci-bot", "--format", "json",
                            env={"GITHUB_TOKEN": token or self.github.token})
        return result.returncode, json.loads(result.stdout) if result.stdout else {"stderr": result.stderr}


def outcome(report: dict[str, Any], rule: str = "prompts-need-ml-leads") -> dict[str, Any]:
    found: dict[str, Any] = next(o for o in report["outcomes"] if o["rule"] == rule)
    return found


def text(o: dict[str, Any]) -> str:
    return "\n".join([o["message"], *o["seen"], o["required"], o["fix"]])


@pytest.fixture
def pr(tmp_path: Path, fake_github: FakeGitHub) -> PullRequest:
    return PullRequest(tmp_path, fake_github)


def test_approved_pull_request_is_allowed(pr: PullRequest) -> None:
    pr.review("alice", "APPROVED")
    code, report = pr.check()
    assert code == 0, report
    assert outcome(report)["status"] == "pass"
    assert "valid: approved by alice (review, commit " in text(outcome(report))


def test_too_few_approvals_names_who_can_give_them(tmp_path: Path, fake_github: FakeGitHub) -> None:
    pr = PullRequest(tmp_path, fake_github, count=2)
    pr.review("alice", "APPROVED")
    pr.review("dan", "COMMENTED")
    code, report = pr.check()
    assert code == 1
    o = outcome(report)
    assert o["status"] == "fail"
    assert "1 valid approval(s) of 2, 1 more needed from members of acme/ml-leads" in o["message"]
    assert f"ask members of acme/ml-leads to approve {PR} at head {pr.head[:10]}" in o["fix"]


def test_reviewer_outside_users_and_teams_is_not_eligible(pr: PullRequest) -> None:
    pr.review("dan", "APPROVED")
    code, report = pr.check()
    assert code == 1
    assert "ignored: dan approved but is not eligible: not among alice, team acme/ml-leads" in \
        text(outcome(report))


def test_pull_request_author_cannot_approve_it(tmp_path: Path, fake_github: FakeGitHub) -> None:
    pr = PullRequest(tmp_path, fake_github, author="alice")
    pr.review("alice", "APPROVED")
    code, report = pr.check()
    assert code == 1
    assert "ignored: alice approved their own change" in text(outcome(report))


def test_commit_author_of_the_pull_request_cannot_approve_it(pr: PullRequest) -> None:
    pr.github.add_commit(OWNER, REPO, NUMBER, sha=pr.head, author_login="carol", parents=[pr.base])
    pr.review("carol", "APPROVED")
    code, report = pr.check()
    assert code == 1
    assert "ignored: carol approved their own change" in text(outcome(report))


def test_approval_of_an_earlier_head_is_stale(pr: PullRequest) -> None:
    pr.review("alice", "APPROVED", commit_id=pr.base)  # given before the last push
    code, report = pr.check()
    assert code == 1
    assert f"ignored: alice's approval is stale: given on commit {pr.base[:10]}" in text(outcome(report))


def test_changes_requested_by_an_eligible_reviewer_vetoes(pr: PullRequest) -> None:
    pr.review("alice", "APPROVED")
    pr.review("carol", "CHANGES_REQUESTED")
    code, report = pr.check()
    assert code == 1
    o = outcome(report)
    assert "changes requested by carol" in o["message"]
    assert "veto: carol requested changes (review" in text(o)


def test_dismissed_request_for_changes_no_longer_vetoes(pr: PullRequest) -> None:
    pr.review("alice", "APPROVED")
    pr.review("carol", "DISMISSED")  # GitHub rewrites a dismissed review's state
    code, report = pr.check()
    assert code == 0, report


def test_team_member_approval_counts(pr: PullRequest) -> None:
    pr.review("carol", "APPROVED")
    code, report = pr.check()
    assert code == 0, report
    assert "valid: approved by carol" in text(outcome(report))


def test_team_membership_the_token_cannot_read_fails_closed(pr: PullRequest) -> None:
    pr.github.teams_visible = False
    pr.review("carol", "APPROVED")
    code, report = pr.check()
    assert code == 1
    o = outcome(report)
    assert o["status"] == "error"
    assert "cannot read membership of team acme/ml-leads" in o["message"]
    assert "read:org" in o["fix"]


def test_two_path_scoped_rules_each_need_their_own_approvers(tmp_path: Path, fake_github: FakeGitHub) -> None:
    pr = PullRequest(tmp_path, fake_github, files=("prompts/system.txt", "serving/config.yaml"))
    pr.review("alice", "APPROVED")
    code, report = pr.check()
    assert code == 1
    assert outcome(report)["status"] == "pass"
    serving = outcome(report, "serving-needs-sre")
    assert serving["status"] == "fail"
    assert "ignored: alice approved but is not eligible: not among team acme/sre" in text(serving)
    pr.review("sam", "APPROVED")
    code, report = pr.check()
    assert code == 0, report


def test_rule_whose_paths_the_change_does_not_touch_is_skipped(tmp_path: Path, fake_github: FakeGitHub) -> None:
    pr = PullRequest(tmp_path, fake_github, files=("docs/guide.md",))
    code, report = pr.check()
    assert code == 0
    assert outcome(report)["status"] == "skip"


def test_more_than_3000_changed_files_fails_closed(tmp_path: Path, fake_github: FakeGitHub) -> None:
    pr = PullRequest(tmp_path, fake_github)
    fake_github.add_pull(OWNER, REPO, NUMBER, head_sha=pr.head, base_sha=pr.base, changed_files=3001)
    fake_github.add_files(OWNER, REPO, NUMBER, ["prompts/system.txt"])
    pr.review("alice", "APPROVED")
    code, report = pr.check()
    assert code == 1
    o = outcome(report)
    assert o["status"] == "error"
    assert "changes 3001 files; GitHub lists at most 3000" in o["message"]
    assert "split the pull request" in o["fix"]


def test_rate_limit_403_fails_closed_with_the_reset_time(pr: PullRequest) -> None:
    pr.review("alice", "APPROVED")
    pr.github.inject(f"/repos/{OWNER}/{REPO}/pulls/{NUMBER}", 403, message="API rate limit exceeded for installation",
                     headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "4102444800"})
    code, report = pr.check()
    assert code == 1
    o = outcome(report)
    assert o["status"] == "error"
    assert "GitHub rate limit reached (403" in o["message"]
    assert "wait for the rate limit to reset" in o["fix"]


def test_wrong_token_fails_closed_with_a_clear_reason(pr: PullRequest) -> None:
    pr.review("alice", "APPROVED")
    code, report = pr.check(token="not-the-token")
    assert code == 1
    o = outcome(report)
    assert o["status"] == "error"
    assert "rejected the token in $GITHUB_TOKEN (401" in o["message"]


def test_pull_request_into_another_branch_is_not_judged_as_main(pr: PullRequest) -> None:
    pr.github.add_pull(OWNER, REPO, NUMBER, head_sha=pr.head, base_sha=pr.base, base_ref="release")
    pr.github.add_files(OWNER, REPO, NUMBER, ["prompts/system.txt"])
    pr.review("alice", "APPROVED")
    code, report = pr.check()
    assert code == 1
    assert "merges into refs/heads/release, but refs/heads/main is judged" in outcome(report)["message"]


def test_both_rules_share_one_reading_of_the_pull_request(tmp_path: Path, fake_github: FakeGitHub) -> None:
    pr = PullRequest(tmp_path, fake_github, files=("prompts/system.txt", "serving/config.yaml"))
    pr.review("alice", "APPROVED")
    pr.review("sam", "APPROVED")
    assert pr.check()[0] == 0
    assert len(fake_github.requests_to(f"/repos/{OWNER}/{REPO}/pulls/{NUMBER}/reviews")) == 1


