"""The GitHub REST API client: pull requests, reviews, changed files, teams, check runs.

Why one small client of our own: the policy needs a handful of calls, each with a
fail-closed reading of GitHub's limits (3,000 files, 250 commits, 50 annotations per
request, tokens that cannot read teams), and clear messages when a token is wrong. What
it returns is data of engine.facts.github; it retries as every HTTP client of the engine
does (engine.facts.http), reading GitHub's rate-limit headers for how long to wait.
`requests` is imported only when the first request is made, because the engine is also
imported by a latency-critical git hook that never talks to GitHub.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, Self

from engine.facts.github import (
    Annotation,
    ChangedFile,
    CheckRun,
    CheckRunOutput,
    PullCommit,
    PullRequest,
    Review,
    latest_reviews_by_user,
)

if TYPE_CHECKING:
    import requests

    from engine.facts.http import Stopped

API_VERSION = "2022-11-28"
DEFAULT_API_URL = "https://api.github.com"
FILES_CAP = 3000  # the PR files listing returns at most this many entries
COMMITS_CAP = 250  # the PR commits listing returns at most this many entries
ANNOTATIONS_PER_REQUEST = 50  # the Checks API rejects more in one request
OUTPUT_TEXT_MAX = 65535  # summary and text longer than this are rejected (422)
PER_PAGE = 100  # the largest page GitHub serves

ErrorKind = Literal[
    "no_token",
    "bad_token",
    "forbidden",
    "rate_limited",
    "not_found",
    "server_error",
    "network",
    "bad_response",
    "too_many_files",
    "too_many_commits",
    "team_unreadable",
    "not_a_file",
    "too_large",
    "request_failed",
]


class GitHubError(Exception):
    """Every failure of this module; `kind` lets callers decide, `str()` tells the user."""

    def __init__(self, kind: ErrorKind, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.status = status


# --- the client ---------------------------------------------------------------


class GitHub:
    """A GitHub REST client for api.github.com or a GitHub Enterprise Server.

    `api_url` is `https://api.github.com` or `https://HOST/api/v3`. The token is read from
    the environment variable named by `token_env`, so policies name a variable, never a
    secret. Retries: 5xx and network errors back off exponentially; 429 and rate-limit
    403s wait for `retry-after` or `x-ratelimit-reset`. All waits of one call together stay
    under `max_wait` seconds, past which the call fails (a hook cannot wait an hour).
    """

    def __init__(
        self,
        api_url: str = DEFAULT_API_URL,
        *,
        token_env: str = "GITHUB_TOKEN",
        environ: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        max_attempts: int = 4,
        max_wait: float = 60.0,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        env = os.environ if environ is None else environ
        token = env.get(token_env, "").strip()
        if not token:
            raise GitHubError(
                "no_token",
                f"${token_env} is not set: set it to a GitHub token that can read this "
                "repository's pull requests (and `read:org` for team rules).",
            )
        self.api_url = api_url.rstrip("/")
        self.token_env = token_env
        self._token = token
        self.timeout = timeout
        self.max_attempts = max(1, max_attempts)
        self.max_wait = max_wait
        self.backoff = backoff
        self._sleep = sleep
        self._clock = clock
        self._session: requests.Session | None = None
        self._team_readable: dict[tuple[str, str], bool] = {}

    def close(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never show the token
        return f"GitHub({self.api_url!r}, token_env={self.token_env!r})"

    # --- pull requests ---

    def find_open_pulls(self, owner: str, repo: str, *, head: str, base: str) -> list[int]:
        """Numbers of open PRs merging `head` (user:branch) into `base` (a branch): how a
        GitHub Enterprise pre-receive hook, which is told only branches, finds its PR."""
        path = f"/repos/{_seg(owner)}/{_seg(repo)}/pulls"
        items = self._paginate(path, params={"head": head, "base": base, "state": "open"})
        return [int(item["number"]) for item in items if isinstance(item, dict) and isinstance(item.get("number"), int)]

    def pull_request(self, owner: str, repo: str, number: int) -> PullRequest:
        """The PR's heads, author, fork status and size."""
        data = self._json("GET", f"/repos/{_seg(owner)}/{_seg(repo)}/pulls/{int(number)}")
        try:
            head, base = data["head"], data["base"]
            return PullRequest(
                number=int(data["number"]),
                state=str(data["state"]),
                draft=bool(data.get("draft") or False),
                merged=bool(data.get("merged") or False),
                author=_login(data.get("user")),
                head_sha=str(head["sha"]),
                head_ref=str(head["ref"]),
                head_repo=(head.get("repo") or {}).get("full_name"),
                base_ref=str(base["ref"]),
                base_sha=str(base["sha"]),
                base_repo=str(base["repo"]["full_name"]),
                changed_files=int(data.get("changed_files") or 0),
                commits=int(data.get("commits") or 0),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad_response("pull request", exc) from exc

    def reviews(self, owner: str, repo: str, number: int) -> list[Review]:
        """Every review of the PR, oldest first, as GitHub lists them."""
        path = f"/repos/{_seg(owner)}/{_seg(repo)}/pulls/{int(number)}/reviews"
        try:
            return [
                Review(
                    id=int(item["id"]),
                    user=_login(item.get("user")),
                    state=str(item["state"]),
                    commit_id=item.get("commit_id"),
                    submitted_at=_timestamp(item.get("submitted_at")),
                )
                for item in self._paginate(path)
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad_response("review", exc) from exc

    def latest_reviews_by_user(self, owner: str, repo: str, number: int) -> dict[str, Review]:
        """Each reviewer's standing approval or veto (see the module-level function)."""
        return latest_reviews_by_user(self.reviews(owner, repo, number))

    def pull_request_files(self, owner: str, repo: str, number: int) -> list[ChangedFile]:
        """Every changed file of the PR; fails closed when GitHub would list only part.

        GitHub lists at most 3,000 files. Past that a policy would judge a partial
        change, so both a PR reporting more files and a listing that reaches the cap
        (where truncation cannot be ruled out) raise `too_many_files`.
        """
        pull = self.pull_request(owner, repo, number)
        if pull.changed_files > FILES_CAP:
            raise _too_many_files(owner, repo, number, pull.changed_files)
        path = f"/repos/{_seg(owner)}/{_seg(repo)}/pulls/{int(number)}/files"
        files: list[ChangedFile] = []
        try:
            for item in self._paginate(path):
                files.append(
                    ChangedFile(
                        filename=str(item["filename"]),
                        status=str(item["status"]),
                        previous_filename=item.get("previous_filename"),
                        additions=int(item.get("additions") or 0),
                        deletions=int(item.get("deletions") or 0),
                        patch=item.get("patch"),
                    )
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad_response("changed file", exc) from exc
        if len(files) >= FILES_CAP:
            raise _too_many_files(owner, repo, number, max(len(files), pull.changed_files))
        return files

    def pull_request_commits(self, owner: str, repo: str, number: int) -> list[PullCommit]:
        """The PR's commits, oldest first; fails closed past GitHub's 250-commit listing."""
        path = f"/repos/{_seg(owner)}/{_seg(repo)}/pulls/{int(number)}/commits"
        commits: list[PullCommit] = []
        try:
            for item in self._paginate(path):
                git = item.get("commit") or {}
                commits.append(
                    PullCommit(
                        sha=str(item["sha"]),
                        author_login=_login(item.get("author")),
                        author_email=(git.get("author") or {}).get("email"),
                        committer_login=_login(item.get("committer")),
                        committer_email=(git.get("committer") or {}).get("email"),
                        parents=tuple(str(p["sha"]) for p in item.get("parents") or ()),
                    )
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise _bad_response("commit", exc) from exc
        if len(commits) >= COMMITS_CAP:
            raise GitHubError(
                "too_many_commits",
                f"{owner}/{repo}#{number} has {COMMITS_CAP} or more commits, and GitHub lists "
                f"at most {COMMITS_CAP} for a pull request, so some would go unchecked. "
                "Split the pull request or squash it.",
            )
        return commits

    # --- teams ---

    def team_member(self, org: str, team_slug: str, username: str) -> bool:
        """Whether username is an active member of the team (pending invitations are not).

        GitHub answers 404 both for "not a member" and for "this token cannot see the
        team", so a 404 is followed by a look at the team itself; a token that cannot read
        it raises `team_unreadable` and callers fail closed.
        """
        path = f"/orgs/{_seg(org)}/teams/{_seg(team_slug)}/memberships/{_seg(username)}"
        try:
            data = self._json("GET", path)
        except GitHubError as exc:
            if exc.kind == "forbidden":
                raise _team_unreadable(org, team_slug, exc) from exc
            if exc.kind != "not_found":
                raise
            if not self._team_is_readable(org, team_slug):
                raise _team_unreadable(org, team_slug, exc) from exc
            return False
        return isinstance(data, dict) and data.get("state") == "active"

    def _team_is_readable(self, org: str, team_slug: str) -> bool:
        key = (org, team_slug)
        if key not in self._team_readable:
            try:
                self._json("GET", f"/orgs/{_seg(org)}/teams/{_seg(team_slug)}")
                self._team_readable[key] = True
            except GitHubError as exc:
                if exc.kind not in ("not_found", "forbidden"):
                    raise
                self._team_readable[key] = False
        return self._team_readable[key]

    # --- contents ---

    def file_at_ref(self, owner: str, repo: str, path: str, ref: str) -> bytes:
        """The bytes of one file at a commit, branch or tag (files up to 1 MB)."""
        url_path = f"/repos/{_seg(owner)}/{_seg(repo)}/contents/{_multi_seg(path)}"
        data = self._json("GET", url_path, params={"ref": ref})
        where = f"{path!r} at {ref!r} in {owner}/{repo}"
        if not isinstance(data, dict) or data.get("type") != "file":
            kind = "a directory" if isinstance(data, list) else f"a {data.get('type')!r}"
            raise GitHubError("not_a_file", f"{where} is {kind}, not a file.")
        if data.get("encoding") != "base64":
            raise GitHubError(
                "too_large",
                f"{where} is {data.get('size')} bytes; the contents API returns files up "
                "to 1 MB. Keep policy and evidence files small.",
            )
        import base64
        import binascii

        try:
            return base64.b64decode(str(data.get("content", "")), validate=False)
        except (binascii.Error, ValueError) as exc:
            raise _bad_response("file content", exc) from exc

    # --- check runs ---

    def create_check_run(
        self,
        owner: str,
        repo: str,
        *,
        name: str,
        head_sha: str,
        status: Literal["queued", "in_progress", "completed"] = "completed",
        conclusion: str | None = None,
        output: CheckRunOutput | None = None,
        details_url: str | None = None,
        external_id: str | None = None,
    ) -> CheckRun:
        """Create a check run; annotations past the first 50 follow in updates."""
        batches = _annotation_batches(output)
        body: dict[str, Any] = {"name": name, "head_sha": head_sha, "status": status}
        if conclusion is not None:
            body["conclusion"] = conclusion
        if details_url is not None:
            body["details_url"] = details_url
        if external_id is not None:
            body["external_id"] = external_id
        if output is not None:
            body["output"] = _output_json(output, batches[0])
        data = self._json("POST", f"/repos/{_seg(owner)}/{_seg(repo)}/check-runs", json=body)
        run = _check_run(data)
        for batch in batches[1:]:
            assert output is not None  # only an output has annotations
            run = self._patch_check_run(owner, repo, run.id, {"output": _output_json(output, batch)})
        return run

    def update_check_run(
        self,
        owner: str,
        repo: str,
        check_run_id: int,
        *,
        status: Literal["queued", "in_progress", "completed"] | None = None,
        conclusion: str | None = None,
        output: CheckRunOutput | None = None,
    ) -> CheckRun:
        """Update a check run; GitHub appends annotations, so they go 50 per request."""
        batches = _annotation_batches(output)
        body: dict[str, Any] = {}
        if status is not None:
            body["status"] = status
        if conclusion is not None:
            body["conclusion"] = conclusion
        if output is not None:
            body["output"] = _output_json(output, batches[0])
        run = self._patch_check_run(owner, repo, check_run_id, body)
        for batch in batches[1:]:
            assert output is not None
            run = self._patch_check_run(owner, repo, check_run_id, {"output": _output_json(output, batch)})
        return run

    def check_runs_for_ref(self, owner: str, repo: str, ref: str, *, name: str | None = None) -> list[CheckRun]:
        """Check runs on a commit, e.g. to update ours instead of adding another."""
        path = f"/repos/{_seg(owner)}/{_seg(repo)}/commits/{_seg(ref)}/check-runs"
        params = {"check_name": name} if name is not None else {}
        return [_check_run(item) for item in self._paginate(path, params=params, key="check_runs")]

    def _patch_check_run(self, owner: str, repo: str, check_run_id: int, body: dict[str, Any]) -> CheckRun:
        path = f"/repos/{_seg(owner)}/{_seg(repo)}/check-runs/{int(check_run_id)}"
        return _check_run(self._json("PATCH", path, json=body))

    # --- transport ---

    def _json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> Any:
        response = self._request(method, self.api_url + path, params=params, json=json)
        return _decode(response, method, path)

    def _paginate(
        self,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        key: str | None = None,
        max_pages: int = 1000,
    ) -> Iterator[Any]:
        """Items of every page, following `Link: rel="next"` (bounded, same host only)."""
        url: str | None = self.api_url + path
        query: dict[str, str | int] | None = {**(params or {}), "per_page": PER_PAGE}
        for _ in range(max_pages):
            if url is None:
                return
            response = self._request("GET", url, params=query)
            data = _decode(response, "GET", path)
            items = data.get(key) if key is not None and isinstance(data, dict) else data
            if not isinstance(items, list):
                raise GitHubError(
                    "bad_response",
                    f"GET {path} did not return a list; is {self.api_url} a GitHub API?",
                )
            yield from items
            url = response.links.get("next", {}).get("url")
            query = None  # the next URL carries the query
            if url is not None and not _same_origin(url, self.api_url):
                raise GitHubError(
                    "bad_response",
                    f"GET {path}: the next page is on another host ({url}); refusing to send the token there.",
                )
        raise GitHubError("bad_response", f"GET {path} has more than {max_pages} pages; giving up.")

    def _http(self) -> requests.Session:
        if self._session is None:
            from engine.facts import http  # lazy: requests costs ~100 ms, and the hook path never needs it

            policy = http.RetryPolicy(
                attempts=self.max_attempts,
                backoff=self.backoff,
                max_wait=self.max_wait,
                read_timeouts=True,
                statuses=http.RETRY_STATUSES | {403},
                transient=_transient,
                asks_wait=self._asks_wait,
                sleep=self._sleep,
            )
            self._session = http.session(
                policy,
                timeout=(self.timeout, self.timeout),
                headers={
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": API_VERSION,
                    "Authorization": f"Bearer {self._token}",
                },
            )
        return self._session

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
    ) -> requests.Response:
        """One call, retried by the session's policy; raises GitHubError for every final failure.

        POST and PATCH are retried too: a lost check run blocks a merge, while a
        duplicate one is harmless (GitHub shows the latest run of a name).
        """
        import requests

        from engine.facts.http import stopped

        session = self._http()
        what = f"{method} {_display(url, self.api_url)}"
        try:
            response = session.request(method, url, params=params, json=json)
        except requests.RequestException as exc:
            failure = GitHubError("network", f"{what}: could not reach {self.api_url}: {exc}")
            raise _after_retries(failure, stopped(exc)) from exc
        if response.status_code < 400:
            return response
        raise _after_retries(self._classify(response, what), stopped(response))

    def _asks_wait(self, status: int, headers: Mapping[str, str]) -> float | None:
        """How long GitHub asks to wait after a rate limit; None for other failures (the
        policy then honours `retry-after` or backs off)."""
        if status in (403, 429):  # a 403 is retried only as a rate limit (_transient)
            return self._rate_limit_delay(headers)
        return None

    def _classify(self, response: requests.Response, what: str) -> GitHubError:
        """The error for a failed response."""
        status = response.status_code
        headers = response.headers
        api_message = _api_message(response)
        if status == 429 or (status == 403 and _is_rate_limit(response, api_message)):
            return GitHubError(
                "rate_limited",
                f"{what}: GitHub rate limit reached ({status}: {api_message}). {self._reset_phrase(headers)}",
                status=status,
            )
        if status >= 500:
            return GitHubError("server_error", f"{what}: GitHub answered {status} ({api_message}).", status=status)
        if status == 401:
            return GitHubError(
                "bad_token",
                f"{what}: GitHub rejected the token in ${self.token_env} (401: {api_message}); "
                "it is wrong, expired or revoked. Set a valid token.",
                status=status,
            )
        if status == 403:
            return GitHubError(
                "forbidden",
                f"{what}: forbidden (403: {api_message}). The token in ${self.token_env} "
                f"lacks the permissions for this call{_permission_hint(headers)}; a workflow "
                "run for a pull request from a fork gets a read-only token.",
                status=status,
            )
        if status == 404:
            return GitHubError(
                "not_found",
                f"{what}: not found (404). It does not exist, or the token in "
                f"${self.token_env} cannot see it (GitHub hides what a token may not read).",
                status=status,
            )
        return GitHubError("request_failed", f"{what}: GitHub answered {status} ({api_message}).", status=status)

    def _rate_limit_delay(self, headers: Mapping[str, str]) -> float:
        after = _retry_after(headers)
        if after is not None:
            return after
        reset = _int_header(headers, "x-ratelimit-reset")
        if reset is not None:
            # the reset time has one-second granularity; one more second avoids waking early
            return max(0.0, reset - self._clock()) + 1.0
        # a secondary limit without headers: GitHub asks for at least a minute
        return 60.0

    def _reset_phrase(self, headers: Mapping[str, str]) -> str:
        reset = _int_header(headers, "x-ratelimit-reset")
        if reset is None:
            after = _retry_after(headers)
            return f"GitHub asks to retry after {after:.0f} s." if after is not None else ""
        when = dt.datetime.fromtimestamp(reset, dt.UTC).strftime("%H:%M:%S UTC")
        return f"The limit resets at {when} (in {max(0, reset - self._clock()):.0f} s)."


# --- helpers ----------------------------------------------------------------------


def _seg(value: str) -> str:
    """One URL path segment, percent-encoded (a branch name may hold '/')."""
    return urllib.parse.quote(str(value), safe="")


def _multi_seg(value: str) -> str:
    """A repository path: its '/' stay separators, as GitHub's contents API expects."""
    return urllib.parse.quote(str(value).strip("/"), safe="/")


def _login(user: Any) -> str | None:
    return user.get("login") if isinstance(user, dict) else None


def _timestamp(value: Any) -> dt.datetime | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(str(value))  # 3.11 reads the "Z" suffix


def _same_origin(url: str, api_url: str) -> bool:
    a, b = urllib.parse.urlsplit(url), urllib.parse.urlsplit(api_url)
    return (a.scheme, a.netloc) == (b.scheme, b.netloc)


def _display(url: str, api_url: str) -> str:
    return url.removeprefix(api_url)


def _decode(response: requests.Response, method: str, path: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise GitHubError("bad_response", f"{method} {path}: GitHub's answer is not JSON ({exc}).") from exc


def _api_message(response: requests.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.reason or "no message"
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return str(data["message"])
    return response.reason or "no message"


def _is_rate_limit(response: requests.Response, api_message: str) -> bool:
    """A 403 is a rate limit when GitHub says so; otherwise it is a missing permission."""
    return _limited(response.headers) or "rate limit" in api_message.lower()


def _limited(headers: Mapping[str, str]) -> bool:
    return headers.get("x-ratelimit-remaining") == "0" or "retry-after" in headers


def _transient(status: int, headers: Mapping[str, str]) -> bool:
    """Whether a failed answer is worth retrying: a 403 only when its headers show a rate
    limit (a missing permission stays missing; a 403 that says "rate limit" only in its
    body is reported as one, but the body is not read before deciding to retry)."""
    return status != 403 or _limited(headers)


def _after_retries(failure: GitHubError, stopped: Stopped | None) -> GitHubError:
    """The failure, saying why retrying stopped (the attempts ran out, or the wait would be too long)."""
    note = stopped.note() if stopped is not None else ""
    return GitHubError(failure.kind, f"{failure.message} ({note})", status=failure.status) if note else failure


def _permission_hint(headers: Mapping[str, str]) -> str:
    accepted = headers.get("x-accepted-github-permissions")
    if accepted:
        return f" (GitHub accepts: {accepted})"
    scopes = headers.get("x-accepted-oauth-scopes")
    if scopes:
        have = headers.get("x-oauth-scopes") or "none"
        return f" (needs scopes: {scopes}; the token has: {have})"
    return ""


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(headers[name])
    except (KeyError, ValueError):
        return None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = _int_header(headers, "retry-after")
    return float(max(0, value)) if value is not None else None


def _bad_response(what: str, exc: Exception) -> GitHubError:
    return GitHubError("bad_response", f"GitHub returned a {what} without an expected field ({exc!r}).")


def _too_many_files(owner: str, repo: str, number: int, count: int) -> GitHubError:
    return GitHubError(
        "too_many_files",
        f"{owner}/{repo}#{number} changes {count} files; GitHub lists at most {FILES_CAP}, "
        "so the policy cannot see every path and denies. Split the pull request.",
    )


def _team_unreadable(org: str, team_slug: str, exc: GitHubError) -> GitHubError:
    return GitHubError(
        "team_unreadable",
        f"cannot read membership of team {org}/{team_slug}: {exc.message} Team rules need a "
        "token with `read:org` (or a GitHub App with Members: read); the Actions "
        "GITHUB_TOKEN cannot read teams.",
        status=exc.status,
    )


def _annotation_batches(output: CheckRunOutput | None) -> list[tuple[Annotation, ...]]:
    """Annotations in groups of 50; always at least one (possibly empty) group."""
    if output is None or not output.annotations:
        return [()]
    items = output.annotations
    return [items[i : i + ANNOTATIONS_PER_REQUEST] for i in range(0, len(items), ANNOTATIONS_PER_REQUEST)]


def _output_json(output: CheckRunOutput, annotations: tuple[Annotation, ...]) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": output.title,
        "summary": _clip(output.summary),
    }
    if output.text is not None:
        body["text"] = _clip(output.text)
    if annotations:
        body["annotations"] = [_annotation_json(a) for a in annotations]
    return body


def _annotation_json(annotation: Annotation) -> dict[str, Any]:
    body: dict[str, Any] = {
        "path": annotation.path,
        "start_line": annotation.start_line,
        "end_line": annotation.end_line,
        "annotation_level": annotation.annotation_level,
        "message": annotation.message,
    }
    if annotation.title is not None:
        body["title"] = annotation.title[:255]
    if annotation.raw_details is not None:
        body["raw_details"] = annotation.raw_details
    return body


def _clip(text: str) -> str:
    """GitHub rejects longer summaries and texts with 422; say where they were cut."""
    if len(text) <= OUTPUT_TEXT_MAX:
        return text
    note = "\n\n… (truncated: GitHub keeps at most 65535 characters)"
    return text[: OUTPUT_TEXT_MAX - len(note)] + note


def _check_run(data: Any) -> CheckRun:
    try:
        return CheckRun(
            id=int(data["id"]),
            name=str(data["name"]),
            head_sha=str(data["head_sha"]),
            status=str(data["status"]),
            conclusion=data.get("conclusion"),
            html_url=data.get("html_url"),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise _bad_response("check run", exc) from exc
