"""engine.facts.github_client against the fake GitHub, whose traffic is checked against GitHub's API description."""

from __future__ import annotations

import datetime as dt
import pathlib
import socket
import subprocess
import sys

import pytest

from engine.facts.github import Annotation, CheckRunOutput, Review, latest_reviews_by_user
from engine.facts.github_client import GitHub, GitHubError
from tests.helpers.fake_github import NOW, FakeGitHub

HEAD = "a" * 40
PR = "/repos/acme/models/pulls/7"
ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def pull(fake_github: FakeGitHub) -> FakeGitHub:
    """acme/models#7, an open PR from a branch of the same repository."""
    fake_github.add_pull("acme", "models", 7, head_sha=HEAD, author="dev")
    return fake_github


# --- pull requests ---


def test_pull_request_reports_heads_author_and_that_it_is_not_a_fork(pull: FakeGitHub, client: GitHub) -> None:
    pr = client.pull_request("acme", "models", 7)
    assert (pr.number, pr.state, pr.draft, pr.author) == (7, "open", False, "dev")
    assert (pr.head_sha, pr.head_ref, pr.head_repo) == (HEAD, "feature", "acme/models")
    assert (pr.base_ref, pr.base_sha, pr.base_repo) == ("main", "b" * 40, "acme/models")
    assert not pr.is_fork


def test_pull_request_from_a_fork_is_marked_as_fork(fake_github: FakeGitHub, client: GitHub) -> None:
    fake_github.add_pull("acme", "models", 8, head_sha=HEAD, head_repo="mallory/models", draft=True)
    pr = client.pull_request("acme", "models", 8)
    assert pr.is_fork and pr.head_repo == "mallory/models" and pr.draft


def test_requests_carry_token_media_type_and_api_version(pull: FakeGitHub, client: GitHub) -> None:
    client.pull_request("acme", "models", 7)
    (request,) = pull.requests_to(PR)
    assert request.headers["Authorization"] == "Bearer test-token"
    assert request.headers["Accept"] == "application/vnd.github+json"
    assert request.headers["X-Github-Api-Version"] == "2022-11-28"
    assert request.headers["User-Agent"].startswith("changegate/")


def test_enterprise_server_api_root_under_api_v3_is_used_as_given(fake_ghes: FakeGitHub) -> None:
    fake_ghes.add_pull("acme", "models", 7, head_sha=HEAD)
    assert fake_ghes.url.endswith("/api/v3")
    with GitHub(
        fake_ghes.url + "/", environ={"GH_ENTERPRISE_TOKEN": "test-token"}, token_env="GH_ENTERPRISE_TOKEN"
    ) as github:
        assert github.pull_request("acme", "models", 7).head_sha == HEAD


def test_missing_token_variable_names_the_variable() -> None:
    with pytest.raises(GitHubError) as caught:
        GitHub("https://api.github.com", token_env="CG_TOKEN", environ={})
    assert caught.value.kind == "no_token"
    assert "$CG_TOKEN" in str(caught.value)


def test_client_repr_never_shows_the_token() -> None:
    github = GitHub(environ={"GITHUB_TOKEN": "ghp_secret"})
    assert "ghp_secret" not in repr(github)


# --- reviews ---


def test_reviews_are_read_across_several_pages(pull: FakeGitHub, client: GitHub) -> None:
    for i in range(230):
        pull.add_review("acme", "models", 7, user=f"user{i}", state="COMMENTED")
    reviews = client.reviews("acme", "models", 7)
    assert [r.user for r in reviews] == [f"user{i}" for i in range(230)]
    pages = [r.query.get("page", "1") for r in pull.requests_to(f"{PR}/reviews")]
    assert pages == ["1", "2", "3"]


def test_next_page_on_another_host_is_refused_so_the_token_stays_home(pull: FakeGitHub, client: GitHub) -> None:
    for i in range(101):
        pull.add_review("acme", "models", 7, user=f"user{i}", state="COMMENTED")
    pull.link_origin = "http://127.0.0.2:9"
    with pytest.raises(GitHubError) as caught:
        client.reviews("acme", "models", 7)
    assert caught.value.kind == "bad_response" and "another host" in str(caught.value)
    assert len(pull.requests_to(f"{PR}/reviews")) == 1


def test_review_fields_are_typed(pull: FakeGitHub, client: GitHub) -> None:
    pull.add_review(
        "acme", "models", 7, user="alice", state="APPROVED", commit_id="c" * 40, submitted_at="2024-05-01T10:00:00Z"
    )
    (review,) = client.reviews("acme", "models", 7)
    assert (review.user, review.state, review.commit_id) == ("alice", "APPROVED", "c" * 40)
    assert review.submitted_at == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC)


def test_latest_review_per_user_ignores_later_comments(pull: FakeGitHub, client: GitHub) -> None:
    pull.add_review("acme", "models", 7, user="alice", state="APPROVED", submitted_at="2024-05-01T10:00:00Z")
    pull.add_review("acme", "models", 7, user="alice", state="COMMENTED", submitted_at="2024-05-01T11:00:00Z")
    pull.add_review("acme", "models", 7, user="bob", state="COMMENTED", submitted_at="2024-05-01T11:00:00Z")
    latest = client.latest_reviews_by_user("acme", "models", 7)
    assert {user: r.state for user, r in latest.items()} == {"alice": "APPROVED"}


def test_changes_requested_after_approval_is_the_users_standing_review(pull: FakeGitHub, client: GitHub) -> None:
    pull.add_review("acme", "models", 7, user="alice", state="APPROVED", submitted_at="2024-05-01T10:00:00Z")
    pull.add_review("acme", "models", 7, user="alice", state="CHANGES_REQUESTED", submitted_at="2024-05-01T12:00:00Z")
    assert client.latest_reviews_by_user("acme", "models", 7)["alice"].state == "CHANGES_REQUESTED"


def test_dismissed_review_removes_that_users_veto(pull: FakeGitHub, client: GitHub) -> None:
    pull.add_review("acme", "models", 7, user="alice", state="APPROVED", submitted_at="2024-05-01T10:00:00Z")
    pull.add_review("acme", "models", 7, user="bob", state="DISMISSED", submitted_at="2024-05-01T11:00:00Z")
    latest = client.latest_reviews_by_user("acme", "models", 7)
    assert set(latest) == {"alice"}


def test_approval_after_a_dismissed_review_counts() -> None:
    t = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    reviews = [
        Review(1, "bob", "DISMISSED", "c1", t),
        Review(2, "bob", "APPROVED", "c2", t + dt.timedelta(hours=1)),
        Review(3, "carol", "PENDING", None, None),
    ]
    assert {u: r.id for u, r in latest_reviews_by_user(reviews).items()} == {"bob": 2}


def test_latest_review_is_chosen_by_submission_time_not_listing_order() -> None:
    t = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    reviews = [
        Review(2, "alice", "CHANGES_REQUESTED", "c2", t + dt.timedelta(hours=2)),
        Review(1, "alice", "APPROVED", "c1", t),
    ]
    assert latest_reviews_by_user(reviews)["alice"].id == 2


# --- files and commits ---


def test_pull_request_files_report_status_and_rename_source(pull: FakeGitHub, client: GitHub) -> None:
    pull.add_files("acme", "models", 7, ["prompts/system.txt"], status="added", patch="@@ -0,0 +1 @@\n+hi")
    pull.add_files("acme", "models", 7, ["models/new.yaml"], status="renamed", previous_filename="models/old.yaml")
    files = client.pull_request_files("acme", "models", 7)
    assert [(f.filename, f.status, f.previous_filename) for f in files] == [
        ("prompts/system.txt", "added", None),
        ("models/new.yaml", "renamed", "models/old.yaml"),
    ]
    assert files[0].patch == "@@ -0,0 +1 @@\n+hi"


def test_more_than_3000_changed_files_fail_closed_before_listing(pull: FakeGitHub, client: GitHub) -> None:
    pull.add_pull("acme", "models", 9, head_sha=HEAD, changed_files=3001)
    with pytest.raises(GitHubError) as caught:
        client.pull_request_files("acme", "models", 9)
    assert caught.value.kind == "too_many_files"
    assert "3001" in str(caught.value)
    assert pull.requests_to("/repos/acme/models/pulls/9/files") == []


def test_file_listing_that_reaches_githubs_3000_cap_fails_closed(pull: FakeGitHub, client: GitHub) -> None:
    # The PR claims fewer files than the listing brings: the listing is all that counts.
    pull.add_pull("acme", "models", 9, head_sha=HEAD, changed_files=2999)
    pull.add_files("acme", "models", 9, (f"data/{i}.json" for i in range(3005)))
    with pytest.raises(GitHubError) as caught:
        client.pull_request_files("acme", "models", 9)
    assert caught.value.kind == "too_many_files"
    assert len(pull.requests_to("/repos/acme/models/pulls/9/files")) == 30


def test_pull_request_commits_map_authors_to_logins_and_emails(pull: FakeGitHub, client: GitHub) -> None:
    pull.add_commit("acme", "models", 7, sha="1" * 40, author_login="dev", author_email="dev@acme.test")
    pull.add_commit(
        "acme",
        "models",
        7,
        sha="2" * 40,
        author_login=None,
        author_email="ghost@acme.test",
        committer_login="web-flow",
        parents=["1" * 40],
    )
    commits = client.pull_request_commits("acme", "models", 7)
    assert [(c.sha, c.author_login, c.author_email) for c in commits] == [
        ("1" * 40, "dev", "dev@acme.test"),
        ("2" * 40, None, "ghost@acme.test"),
    ]
    assert commits[1].committer_login == "web-flow" and commits[1].parents == ("1" * 40,)


def test_more_commits_than_github_lists_fail_closed(pull: FakeGitHub, client: GitHub) -> None:
    for i in range(260):
        pull.add_commit("acme", "models", 7, sha=f"{i:040x}")
    with pytest.raises(GitHubError) as caught:
        client.pull_request_commits("acme", "models", 7)
    assert caught.value.kind == "too_many_commits"


# --- teams ---


def test_active_team_member_is_a_member(fake_github: FakeGitHub, client: GitHub) -> None:
    fake_github.add_team_member("acme", "ml-leads", "alice", role="maintainer")
    assert client.team_member("acme", "ml-leads", "alice") is True


def test_pending_invitation_is_not_membership(fake_github: FakeGitHub, client: GitHub) -> None:
    fake_github.add_team_member("acme", "ml-leads", "alice", state="pending")
    assert client.team_member("acme", "ml-leads", "alice") is False


def test_user_outside_a_readable_team_is_not_a_member(fake_github: FakeGitHub, client: GitHub) -> None:
    fake_github.add_team_member("acme", "ml-leads", "alice")
    assert client.team_member("acme", "ml-leads", "mallory") is False


def test_team_hidden_from_the_token_is_unreadable_not_non_membership(fake_github: FakeGitHub, client: GitHub) -> None:
    fake_github.add_team_member("acme", "ml-leads", "alice")
    fake_github.teams_visible = False  # what a GITHUB_TOKEN sees
    with pytest.raises(GitHubError) as caught:
        client.team_member("acme", "ml-leads", "alice")
    assert caught.value.kind == "team_unreadable"
    assert "read:org" in str(caught.value)


def test_forbidden_team_membership_is_unreadable(fake_github: FakeGitHub, client: GitHub) -> None:
    fake_github.add_team_member("acme", "ml-leads", "alice")
    fake_github.inject("/orgs/acme/teams/ml-leads/memberships/alice", 403)
    with pytest.raises(GitHubError) as caught:
        client.team_member("acme", "ml-leads", "alice")
    assert caught.value.kind == "team_unreadable"
    assert "read:org" in str(caught.value)


# --- contents ---


def test_file_at_ref_returns_exact_bytes_of_a_nested_path(fake_github: FakeGitHub, client: GitHub) -> None:
    data = bytes(range(256)) * 5  # binary, not UTF-8, longer than one base64 line
    fake_github.add_content("acme", "models", ".changegate/policy.yml", "main", data)
    fake_github.add_content("acme", "models", ".changegate/policy.yml", "v1", b"old")
    assert client.file_at_ref("acme", "models", ".changegate/policy.yml", "main") == data
    assert client.file_at_ref("acme", "models", ".changegate/policy.yml", "v1") == b"old"


def test_missing_file_is_not_found_and_says_the_token_may_lack_access(fake_github: FakeGitHub, client: GitHub) -> None:
    with pytest.raises(GitHubError) as caught:
        client.file_at_ref("acme", "models", "nope.yml", "main")
    assert caught.value.kind == "not_found" and caught.value.status == 404
    assert "cannot see it" in str(caught.value)


# --- check runs ---


def _annotations(n: int) -> tuple[Annotation, ...]:
    return tuple(Annotation(f"models/{i}.yaml", i + 1, i + 1, "failure", f"problem {i}") for i in range(n))


def test_check_run_with_120_annotations_is_sent_as_50_50_20(fake_github: FakeGitHub, client: GitHub) -> None:
    output = CheckRunOutput("2 rules failed", "## Decision: denied", "details", _annotations(120))
    run = client.create_check_run(
        "acme", "models", name="changegate", head_sha=HEAD, conclusion="failure", output=output
    )
    stored = fake_github.check_runs[run.id]
    assert [len(batch) for batch in stored.annotation_batches] == [50, 50, 20]
    assert [a["message"] for a in stored.annotations] == [f"problem {i}" for i in range(120)]
    assert len(fake_github.requests_to("/repos/acme/models/check-runs", "POST")) == 1
    assert len(fake_github.requests_to(f"/repos/acme/models/check-runs/{run.id}", "PATCH")) == 2
    assert (run.status, run.conclusion, stored.title) == ("completed", "failure", "2 rules failed")


def test_check_run_update_sends_status_then_remaining_annotations(fake_github: FakeGitHub, client: GitHub) -> None:
    run = client.create_check_run("acme", "models", name="changegate", head_sha=HEAD, status="in_progress")
    assert run.status == "in_progress" and run.conclusion is None
    done = client.update_check_run(
        "acme",
        "models",
        run.id,
        conclusion="success",
        output=CheckRunOutput("ok", "all rules passed", annotations=_annotations(51)),
    )
    assert (done.status, done.conclusion) == ("completed", "success")
    stored = fake_github.check_runs[run.id]
    assert [len(b) for b in stored.annotation_batches] == [50, 1]
    assert stored.bodies[1]["conclusion"] == "success"


def test_check_runs_for_ref_finds_ours_by_name(fake_github: FakeGitHub, client: GitHub) -> None:
    ours = client.create_check_run("acme", "models", name="changegate", head_sha=HEAD, conclusion="success")
    client.create_check_run("acme", "models", name="other", head_sha=HEAD, conclusion="success")
    assert [r.id for r in client.check_runs_for_ref("acme", "models", HEAD, name="changegate")] == [ours.id]


def test_overlong_summary_is_cut_to_what_github_accepts(fake_github: FakeGitHub, client: GitHub) -> None:
    run = client.create_check_run(
        "acme",
        "models",
        name="changegate",
        head_sha=HEAD,
        conclusion="neutral",
        output=CheckRunOutput("big", "x" * 70_000),
    )
    summary = fake_github.check_runs[run.id].summary
    assert (
        summary is not None
        and len(summary) == 65535
        and summary.endswith("(truncated: GitHub keeps at most 65535 characters)")
    )


# --- retries and errors ---


def test_502_is_retried_with_backoff_then_succeeds(pull: FakeGitHub, client: GitHub, sleeps: list[float]) -> None:
    pull.inject(PR, 502, times=2)
    assert client.pull_request("acme", "models", 7).head_sha == HEAD
    assert sleeps == [1.0, 2.0]
    assert len(pull.requests_to(PR)) == 3


def test_persistent_503_gives_up_after_max_attempts(pull: FakeGitHub, client: GitHub, sleeps: list[float]) -> None:
    pull.inject(PR, 503, times=10)
    with pytest.raises(GitHubError) as caught:
        client.pull_request("acme", "models", 7)
    assert caught.value.kind == "server_error" and caught.value.status == 503
    assert "gave up after 4 attempts" in str(caught.value)
    assert sleeps == [1.0, 2.0, 4.0]


def test_429_waits_as_long_as_retry_after_says(pull: FakeGitHub, client: GitHub, sleeps: list[float]) -> None:
    pull.inject(PR, 429, headers={"retry-after": "7"})
    assert client.pull_request("acme", "models", 7).number == 7
    assert sleeps == [7.0]


def test_403_rate_limit_waits_until_the_reset_time(pull: FakeGitHub, client: GitHub, sleeps: list[float]) -> None:
    reset = int(NOW) + 30
    pull.inject(
        f"{PR}/reviews",
        403,
        message="API rate limit exceeded for installation ID 1.",
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    assert client.reviews("acme", "models", 7) == []
    assert sleeps == [31.0]  # until the reset second has passed


def test_rate_limit_reset_beyond_max_wait_fails_without_waiting(
    pull: FakeGitHub, client: GitHub, sleeps: list[float]
) -> None:
    reset = int(NOW) + 3600
    pull.inject(
        PR,
        403,
        message="API rate limit exceeded for user ID 1.",
        headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
    )
    with pytest.raises(GitHubError) as caught:
        client.pull_request("acme", "models", 7)
    assert caught.value.kind == "rate_limited"
    assert "resets at" in str(caught.value) and "in 3600 s" in str(caught.value)
    assert sleeps == []


def test_403_without_rate_limit_is_a_missing_permission_and_not_retried(
    pull: FakeGitHub, client: GitHub, sleeps: list[float]
) -> None:
    pull.inject(PR, 403, headers={"x-accepted-github-permissions": "pull_requests=read"})
    with pytest.raises(GitHubError) as caught:
        client.pull_request("acme", "models", 7)
    message = str(caught.value)
    assert caught.value.kind == "forbidden"
    assert "$GITHUB_TOKEN lacks the permissions" in message and "pull_requests=read" in message
    assert "fork" in message
    assert sleeps == [] and len(pull.requests_to(PR)) == 1


def test_401_says_the_token_is_bad_and_is_not_retried(pull: FakeGitHub, sleeps: list[float]) -> None:
    with GitHub(pull.url, environ={"GITHUB_TOKEN": "wrong"}, sleep=sleeps.append) as github:
        with pytest.raises(GitHubError) as caught:
            github.pull_request("acme", "models", 7)
    assert caught.value.kind == "bad_token" and caught.value.status == 401
    assert "rejected the token in $GITHUB_TOKEN" in str(caught.value)
    assert sleeps == []


def test_unknown_pull_request_is_not_found(pull: FakeGitHub, client: GitHub) -> None:
    with pytest.raises(GitHubError) as caught:
        client.pull_request("acme", "models", 404)
    assert caught.value.kind == "not_found"


def test_unreachable_server_is_a_network_error_after_bounded_retries(sleeps: list[float]) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with GitHub(
        f"http://127.0.0.1:{port}", environ={"GITHUB_TOKEN": "t"}, sleep=sleeps.append, max_attempts=3, timeout=2.0
    ) as github:
        with pytest.raises(GitHubError) as caught:
            github.pull_request("acme", "models", 7)
    assert caught.value.kind == "network"
    assert sleeps == [1.0, 2.0]


def test_total_wait_is_bounded_by_max_wait(pull: FakeGitHub, sleeps: list[float]) -> None:
    pull.inject(PR, 502, times=10)
    with GitHub(
        pull.url, environ={"GITHUB_TOKEN": pull.token}, sleep=sleeps.append, max_attempts=10, max_wait=10.0
    ) as github:
        with pytest.raises(GitHubError) as caught:
            github.pull_request("acme", "models", 7)
    assert caught.value.kind == "server_error"
    assert sleeps == [1.0, 2.0, 4.0]  # 8 more would pass 10 s in all


def test_importing_the_module_does_not_import_requests() -> None:
    code = "import sys, engine.facts.github_client; print('requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
