"""A local fake of GitHub's REST API that cannot drift from the real one.

Why: tests of the GitHub client need pull requests, reviews, rate limits and outages on
demand, and api.github.com is not reachable from tests. A fake is only worth having if
it answers like GitHub, so EVERY request it receives and EVERY response it sends is
validated with openapi-core against GitHub's own OpenAPI description (the pinned subset
in tests/github/openapi/, cut by scripts/cut-openapi). A violation turns the response
into a 500 and is recorded; the `fake_github` fixture fails the test at teardown.

Server: werkzeug's threaded development server on 127.0.0.1 (werkzeug comes with
openapi-core), stopped when the context manager or fixture ends.

Objects start from the examples in GitHub's description (so they carry every required
field) with the fields a test controls set on top; validation then proves the result.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import functools
import hashlib
import json
import pathlib
import threading
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

SUBSET = pathlib.Path(__file__).resolve().parents[1] / "github/openapi/api.github.com.subset.json"
API_VERSION = "2022-11-28"
FILES_CAP = 3000  # GitHub lists at most this many files of a pull request
COMMITS_CAP = 250  # ... and at most this many commits
# Statuses GitHub may answer on any endpoint although the description rarely declares
# them; their body must still be GitHub's error shape (basic-error with a message).
GENERIC_ERROR_STATUSES = frozenset({400, 401, 403, 404, 422, 429, 500, 502, 503, 504})
DEFAULT_MESSAGES = {
    400: "Bad request",
    401: "Bad credentials",
    403: "Resource not accessible by integration",
    404: "Not Found",
    429: "API rate limit exceeded",
    500: "Server Error",
    502: "Server Error",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
DOCS = "https://docs.github.com/rest"
NOW = 1_700_000_000.0  # a fixed clock for clients in tests, so rate-limit waits are exact


# --- the pinned description ---------------------------------------------------


@functools.cache
def load_subset() -> dict[str, Any]:
    """The pinned OpenAPI subset, parsed once per test session."""
    data: dict[str, Any] = json.loads(SUBSET.read_text(encoding="utf-8"))
    return data


@functools.cache
def _openapi(prefix: str) -> Any:
    """openapi-core's view of the subset, served under `prefix` on any host."""
    from openapi_core import OpenAPI

    spec = copy.deepcopy(load_subset())
    spec["servers"] = [{"url": prefix or "/"}]
    return OpenAPI.from_dict(spec)


def _example(name: str) -> Any:
    return copy.deepcopy(load_subset()["components"]["examples"][name]["value"])


def _operation(method: str, template: str) -> dict[str, Any]:
    op: dict[str, Any] = load_subset()["paths"][template][method.lower()]
    return op


class _OpenAPIRequest:
    """The request as openapi-core reads it (its request protocol)."""

    def __init__(
        self,
        host_url: str,
        path: str,
        method: str,
        query: ImmutableMultiDict[str, str],
        headers: Headers,
        body: bytes,
        content_type: str,
    ) -> None:
        from openapi_core.datatypes import RequestParameters

        self.host_url = host_url
        self.path = path
        self.method = method.lower()
        self.body = body
        self.content_type = content_type
        self.parameters = RequestParameters(query=query, header=headers, cookie=ImmutableMultiDict(), path={})


class _OpenAPIResponse:
    """The response as openapi-core reads it (its response protocol)."""

    def __init__(self, status: int, headers: Headers, data: bytes) -> None:
        self.status_code = status
        self.headers = headers
        self.data = data
        self.content_type = "application/json"


def describe_errors(exc: BaseException) -> str:
    """openapi-core errors with the schema paths that failed, in one line each."""
    text = str(exc)[:200]
    parts = [text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"]
    cause: BaseException | None = exc
    while cause is not None:
        for err in getattr(cause, "schema_errors", ()) or ():
            where = "/".join(str(p) for p in err.absolute_path) or "(root)"
            parts.append(f"at {where}: {_shorten(err.message)} [{err.validator}]")
        cause = cause.__cause__ or cause.__context__
    return "; ".join(parts)


def _shorten(text: str, keep: int = 150) -> str:
    """Both ends of a long message: jsonschema puts the whole value first, the reason last."""
    return text if len(text) <= 2 * keep else f"{text[:keep]} … {text[-keep:]}"


# --- state --------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """A request as the fake received it, for tests that check what the client sent."""

    method: str
    path: str  # below the API root, percent-decoded
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class Violation:
    """A request or response that does not match GitHub's description."""

    phase: str  # "request" | "response"
    method: str
    path: str
    status: int
    detail: str

    def __str__(self) -> str:
        return f"{self.phase} {self.method} {self.path} ({self.status}): {self.detail}"


@dataclass
class _Fault:
    path: str
    method: str | None
    status: int
    remaining: int
    headers: dict[str, str]
    message: str


@dataclass
class _Tamper:
    path: str
    mutate: Callable[[Any], Any]
    remaining: int | None


@dataclass
class _Pull:
    owner: str
    repo: str
    number: int
    head_sha: str
    head_ref: str
    head_repo: str
    base_ref: str
    base_sha: str
    author: str
    state: str
    draft: bool
    merged: bool
    changed_files: int | None
    reviews: list[dict[str, Any]] = field(default_factory=list)
    files: list[dict[str, Any]] = field(default_factory=list)
    commits: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class FakeCheckRun:
    """A check run created through the fake, with every request that shaped it."""

    id: int
    owner: str
    repo: str
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    title: str | None = None
    summary: str | None = None
    text: str | None = None
    annotation_batches: list[list[dict[str, Any]]] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    @property
    def annotations(self) -> list[dict[str, Any]]:
        """All annotations, in order: GitHub appends each request's batch."""
        return [a for batch in self.annotation_batches for a in batch]


# --- the server -----------------------------------------------------------------


class FakeGitHub:
    """In-memory GitHub on 127.0.0.1; set state with add_*, break it with inject/tamper."""

    def __init__(self, *, prefix: str = "", token: str = "test-token") -> None:
        self.prefix = prefix.rstrip("/")  # "/api/v3" to look like GitHub Enterprise Server
        self.token = token
        self.received: list[Received] = []
        self.violations: list[Violation] = []
        self.check_runs: dict[int, FakeCheckRun] = {}
        self.teams_visible = True  # False: team endpoints answer 404, as to a GITHUB_TOKEN
        self.link_origin: str | None = None  # e.g. "http://elsewhere": Link headers point there
        self._pulls: dict[tuple[str, str, int], _Pull] = {}
        self._teams: dict[tuple[str, str], dict[str, dict[str, str]]] = {}
        self._contents: dict[tuple[str, str, str, str], bytes] = {}
        self._faults: list[_Fault] = []
        self._tampers: list[_Tamper] = []
        self._lock = threading.Lock()
        self._next_id = 1000
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = Map(
            [
                Rule("/repos/<owner>/<repo>/pulls", endpoint="pulls"),
                Rule("/repos/<owner>/<repo>/pulls/<int:number>", endpoint="pull"),
                Rule("/repos/<owner>/<repo>/pulls/<int:number>/reviews", endpoint="reviews"),
                Rule("/repos/<owner>/<repo>/pulls/<int:number>/files", endpoint="files"),
                Rule("/repos/<owner>/<repo>/pulls/<int:number>/commits", endpoint="commits"),
                Rule("/orgs/<org>/teams/<team>/memberships/<user>", endpoint="membership"),
                Rule("/orgs/<org>/teams/<team>", endpoint="team"),
                Rule("/repos/<owner>/<repo>/contents/<path:path>", endpoint="contents"),
                Rule("/repos/<owner>/<repo>/check-runs", endpoint="create_check_run", methods=["POST"]),
                Rule("/repos/<owner>/<repo>/check-runs/<int:run_id>", endpoint="update_check_run", methods=["PATCH"]),
                Rule("/repos/<owner>/<repo>/commits/<ref>/check-runs", endpoint="ref_check_runs"),
            ],
            strict_slashes=False,
            merge_slashes=False,
        )

    # --- lifecycle ---

    @property
    def url(self) -> str:
        """The API root to give a client, e.g. http://127.0.0.1:PORT/api/v3."""
        if self._server is None:
            raise RuntimeError("FakeGitHub is not started")
        return f"http://127.0.0.1:{self._server.server_port}{self.prefix}"

    def start(self) -> FakeGitHub:
        _openapi(self.prefix)  # load (and check) the description before serving
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- checks on the fake itself ---

    def take_violations(self) -> list[Violation]:
        """Return and forget recorded violations (for tests that provoke them on purpose)."""
        with self._lock:
            found, self.violations = self.violations, []
        return found

    def assert_no_violations(self) -> None:
        if self.violations:
            lines = "\n  ".join(str(v) for v in self.violations)
            raise AssertionError(f"the fake GitHub saw traffic that GitHub's API description forbids:\n  {lines}")

    # --- state set-up ---

    def add_pull(
        self,
        owner: str,
        repo: str,
        number: int,
        *,
        head_sha: str,
        base_sha: str = "b" * 40,
        head_ref: str = "feature",
        base_ref: str = "main",
        author: str = "octocat",
        head_repo: str | None = None,
        state: str = "open",
        draft: bool = False,
        merged: bool = False,
        changed_files: int | None = None,
    ) -> None:
        """A pull request; head_repo defaults to the base repository (not a fork)."""
        with self._lock:
            self._pulls[(owner, repo, number)] = _Pull(
                owner,
                repo,
                number,
                head_sha,
                head_ref,
                head_repo or f"{owner}/{repo}",
                base_ref,
                base_sha,
                author,
                state,
                draft,
                merged,
                changed_files,
            )

    def add_review(
        self,
        owner: str,
        repo: str,
        number: int,
        *,
        user: str,
        state: str,
        commit_id: str | None = None,
        submitted_at: str | None = None,
    ) -> int:
        """A review (state APPROVED, CHANGES_REQUESTED, COMMENTED, DISMISSED or PENDING)."""
        with self._lock:
            pull = self._pulls[(owner, repo, number)]
            review = _example("pull-request-review-items")[0]
            review_id = self._new_id()
            review.update(
                id=review_id,
                node_id=f"PRR_{review_id}",
                state=state,
                commit_id=commit_id or pull.head_sha,
                html_url=f"https://github.com/{owner}/{repo}/pull/{number}#pullrequestreview-{review_id}",
                pull_request_url=f"https://api.github.com/repos/{owner}/{repo}/pulls/{number}",
            )
            review["user"] = _user(user)
            if state == "PENDING":
                review.pop("submitted_at", None)
            else:
                review["submitted_at"] = submitted_at or _now()
            pull.reviews.append(review)
            return review_id

    def add_files(
        self,
        owner: str,
        repo: str,
        number: int,
        filenames: Iterable[str],
        *,
        status: str = "modified",
        previous_filename: str | None = None,
        patch: str | None = None,
    ) -> None:
        """Changed files of a pull request, all with the same status."""
        with self._lock:
            pull = self._pulls[(owner, repo, number)]
            template = _example("diff-entry-items")[0]
            for name in filenames:
                entry = copy.deepcopy(template)
                quoted = urllib.parse.quote(name)
                entry.update(
                    sha=hashlib.sha1(name.encode()).hexdigest(),  # an id, not for security
                    filename=name,
                    status=status,
                    additions=1,
                    deletions=0 if status == "added" else 1,
                    changes=1 if status == "added" else 2,
                    blob_url=f"https://github.com/{owner}/{repo}/blob/{pull.head_sha}/{quoted}",
                    raw_url=f"https://github.com/{owner}/{repo}/raw/{pull.head_sha}/{quoted}",
                    contents_url=f"https://api.github.com/repos/{owner}/{repo}/contents/{quoted}?ref={pull.head_sha}",
                )
                if patch is None:
                    entry.pop("patch", None)
                else:
                    entry["patch"] = patch
                if previous_filename is not None:
                    entry["previous_filename"] = previous_filename
                pull.files.append(entry)

    def add_commit(
        self,
        owner: str,
        repo: str,
        number: int,
        *,
        sha: str,
        author_login: str | None = "octocat",
        author_email: str = "octocat@github.com",
        committer_login: str | None = None,
        committer_email: str | None = None,
        parents: Iterable[str] = (),
    ) -> None:
        """A commit of a pull request; a None login is an email GitHub cannot map to a user."""
        with self._lock:
            pull = self._pulls[(owner, repo, number)]
            commit = _example("commit-items")[0]
            commit.update(
                sha=sha,
                node_id=f"C_{sha[:12]}",
                url=f"https://api.github.com/repos/{owner}/{repo}/commits/{sha}",
                html_url=f"https://github.com/{owner}/{repo}/commit/{sha}",
                comments_url=f"https://api.github.com/repos/{owner}/{repo}/commits/{sha}/comments",
                parents=[
                    {"sha": p, "url": f"https://api.github.com/repos/{owner}/{repo}/commits/{p}"} for p in parents
                ],
                author=_user(author_login) if author_login else None,
                committer=_user(committer) if (committer := committer_login or author_login) else None,
            )
            commit["commit"]["author"]["email"] = author_email
            commit["commit"]["committer"]["email"] = committer_email or author_email
            pull.commits.append(commit)

    def add_team(self, org: str, team_slug: str) -> None:
        with self._lock:
            self._teams.setdefault((org, team_slug), {})

    def add_team_member(
        self, org: str, team_slug: str, username: str, *, role: str = "member", state: str = "active"
    ) -> None:
        """A team member; state "pending" is an invitation not yet accepted."""
        with self._lock:
            self._teams.setdefault((org, team_slug), {})[username] = {"role": role, "state": state}

    def add_content(self, owner: str, repo: str, path: str, ref: str, data: bytes) -> None:
        """A file's bytes at a ref, for the contents API."""
        with self._lock:
            self._contents[(owner, repo, path.strip("/"), ref)] = data

    def inject(
        self,
        path: str,
        status: int,
        *,
        times: int = 1,
        method: str | None = None,
        headers: dict[str, str] | None = None,
        message: str | None = None,
    ) -> None:
        """The next `times` requests to path (below the API root) answer status instead."""
        with self._lock:
            self._faults.append(
                _Fault(
                    path, method, status, times, dict(headers or {}), message or DEFAULT_MESSAGES.get(status, "Error")
                )
            )

    def tamper(self, path: str, mutate: Callable[[Any], Any], *, times: int | None = 1) -> None:
        """Change the next `times` JSON bodies for path before they are validated (None: all)."""
        with self._lock:
            self._tampers.append(_Tamper(path, mutate, times))

    def requests_to(self, path: str, method: str = "GET") -> list[Received]:
        return [r for r in self.received if r.path == path and r.method == method]

    # --- WSGI ---

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        request = Request(environ)
        response = self._serve(request)
        return response(environ, start_response)

    def _serve(self, request: Request) -> Response:
        raw_body = request.get_data()
        full_path = request.path
        path = full_path.removeprefix(self.prefix) if full_path.startswith(self.prefix + "/") else None
        body_json: Any = None
        if raw_body:
            try:
                body_json = json.loads(raw_body)
            except ValueError:
                body_json = raw_body.decode("utf-8", "replace")
        with self._lock:
            self.received.append(
                Received(request.method, path or full_path, dict(request.args), dict(request.headers), body_json)
            )
        if path is None:
            return _error(404, "Not Found")

        try:
            endpoint, args = self._routes.bind("fake").match(path, method=request.method)
        except (NotFound, MethodNotAllowed):
            self._record(
                Violation(
                    "request", request.method, path, 404, "no operation of the pinned subset has this path and method"
                )
            )
            return _error(500, "fake GitHub: request to an operation outside the pinned subset")
        except HTTPException as exc:  # e.g. a redirect for a trailing slash
            return _error(exc.code or 500, str(exc))

        template = _TEMPLATES[endpoint]
        oa_request = _OpenAPIRequest(
            request.host_url.rstrip("/"),
            self.prefix + _path_for_validation(template, path),
            request.method,
            ImmutableMultiDict(list(request.args.items(multi=True))),
            Headers(request.headers),
            raw_body,
            request.content_type or "application/json",
        )
        request_errors = list(_openapi(self.prefix).iter_request_errors(oa_request))
        if request_errors:
            detail = " | ".join(describe_errors(e) for e in request_errors)
            self._record(Violation("request", request.method, path, 0, detail))
            return _error(500, f"fake GitHub: request violates GitHub's API description: {detail}")

        response = self._answer(request, endpoint, args, path, body_json)
        return self._validated(request.method, path, template, oa_request, response)

    def _answer(self, request: Request, endpoint: str, args: Mapping[str, Any], path: str, body: Any) -> Response:
        fault = self._take_fault(path, request.method)
        if fault is not None:
            return _error(fault.status, fault.message, fault.headers)
        auth = request.headers.get("Authorization", "")
        if auth not in (f"Bearer {self.token}", f"token {self.token}"):
            return _error(401, "Bad credentials")
        version = request.headers.get("X-GitHub-Api-Version")
        if version is not None and version != API_VERSION:
            return _error(400, f"API version {version!r} is not supported by this fake.")
        with self._lock:
            handler = getattr(self, f"_on_{endpoint}")
            result: Response = handler(request, body=body, **args)
            return result

    def _validated(
        self, method: str, path: str, template: str, oa_request: _OpenAPIRequest, response: Response
    ) -> Response:
        data = response.get_data()
        if response.mimetype == "application/json" and data:
            tamper = self._take_tamper(path)
            if tamper is not None:
                data = json.dumps(tamper(json.loads(data))).encode()
                response.set_data(data)
        status = response.status_code
        declared = _operation(method, template)["responses"]
        if str(status) in declared or "default" in declared:
            oa_response = _OpenAPIResponse(status, Headers(response.headers), data)
            errors = list(_openapi(self.prefix).iter_response_errors(oa_request, oa_response))
            detail = " | ".join(describe_errors(e) for e in errors)
        elif status in GENERIC_ERROR_STATUSES:
            detail = _basic_error_problem(data)
        else:
            detail = f"status {status} is neither declared for this operation nor a generic error"
        if detail:
            self._record(Violation("response", method, path, status, detail))
            return _error(500, f"fake GitHub: response violates GitHub's API description: {detail}")
        return response

    def _record(self, violation: Violation) -> None:
        with self._lock:
            self.violations.append(violation)

    def _take_fault(self, path: str, method: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path == path and fault.method in (None, method) and fault.remaining > 0:
                    fault.remaining -= 1
                    return fault
        return None

    def _take_tamper(self, path: str) -> Callable[[Any], Any] | None:
        with self._lock:
            for tamper in self._tampers:
                if tamper.path == path and (tamper.remaining is None or tamper.remaining > 0):
                    if tamper.remaining is not None:
                        tamper.remaining -= 1
                    return tamper.mutate
        return None

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # --- handlers (called with the lock held) ---

    def _pull(self, owner: str, repo: str, number: int) -> _Pull | None:
        return self._pulls.get((owner, repo, number))

    def _on_pull(self, request: Request, *, body: Any, owner: str, repo: str, number: int) -> Response:
        pull = self._pull(owner, repo, number)
        if pull is None:
            return _error(404, "Not Found")
        return _json(self._pull_json(pull))

    def _on_pulls(self, request: Request, *, body: Any, owner: str, repo: str) -> Response:
        """List PRs like GitHub: `state` (default open), `head` as user:branch, `base` as a branch."""
        state = request.args.get("state", "open")
        head, base = request.args.get("head"), request.args.get("base")
        items = []
        for (o, r, _), pull in sorted(self._pulls.items()):
            if (o, r) != (owner, repo) or (state != "all" and pull.state != state):
                continue
            if head is not None and head != f"{pull.head_repo.split('/')[0]}:{pull.head_ref}":
                continue
            if base is not None and base != pull.base_ref:
                continue
            simple = _example("pull-request-simple-items")[0]
            full = self._pull_json(pull)
            simple.update({k: full[k] for k in ("number", "state", "draft", "url", "html_url", "user", "head", "base")})
            simple["requested_teams"] = []
            items.append(simple)
        return self._page(request, items)

    def _pull_json(self, pull: _Pull) -> dict[str, Any]:
        data: dict[str, Any] = _example("pull-request")
        owner, repo, number = pull.owner, pull.repo, pull.number
        api = f"https://api.github.com/repos/{owner}/{repo}"
        data.update(
            number=number,
            state=pull.state,
            draft=pull.draft,
            merged=pull.merged,
            url=f"{api}/pulls/{number}",
            html_url=f"https://github.com/{owner}/{repo}/pull/{number}",
            user=_user(pull.author),
            changed_files=len(pull.files) if pull.changed_files is None else pull.changed_files,
            commits=len(pull.commits),
            # the example's team lacks the required `type`: our PRs request no teams
            requested_teams=[],
        )
        data["head"].update(
            sha=pull.head_sha, ref=pull.head_ref, label=f"{pull.head_repo.split('/')[0]}:{pull.head_ref}"
        )
        _set_repo(data["head"]["repo"], pull.head_repo)
        data["head"]["user"] = _user(pull.head_repo.split("/")[0])
        data["base"].update(sha=pull.base_sha, ref=pull.base_ref, label=f"{owner}:{pull.base_ref}")
        _set_repo(data["base"]["repo"], f"{owner}/{repo}")
        data["base"]["user"] = _user(owner)
        return data

    def _on_reviews(self, request: Request, *, body: Any, owner: str, repo: str, number: int) -> Response:
        pull = self._pull(owner, repo, number)
        if pull is None:
            return _error(404, "Not Found")
        return self._page(request, pull.reviews)

    def _on_files(self, request: Request, *, body: Any, owner: str, repo: str, number: int) -> Response:
        pull = self._pull(owner, repo, number)
        if pull is None:
            return _error(404, "Not Found")
        return self._page(request, pull.files[:FILES_CAP])

    def _on_commits(self, request: Request, *, body: Any, owner: str, repo: str, number: int) -> Response:
        pull = self._pull(owner, repo, number)
        if pull is None:
            return _error(404, "Not Found")
        return self._page(request, pull.commits[:COMMITS_CAP])

    def _on_membership(self, request: Request, *, body: Any, org: str, team: str, user: str) -> Response:
        members = self._teams.get((org, team)) if self.teams_visible else None
        if members is None or user not in members:
            return _error(404, "Not Found")
        data = _example("team-membership-response-if-user-is-a-team-maintainer")
        data.update(url=f"https://api.github.com/organizations/1/team/1/memberships/{user}", **members[user])
        return _json(data)

    def _on_team(self, request: Request, *, body: Any, org: str, team: str) -> Response:
        if not self.teams_visible or (org, team) not in self._teams:
            return _error(404, "Not Found")
        data = _example("team-full")
        # the example predates two required fields; GitHub sends both
        data.update(slug=team, name=team, members_count=len(self._teams[(org, team)]), type="organization")
        data["organization"].update(login=org, archived_at=None)
        return _json(data)

    def _on_contents(self, request: Request, *, body: Any, owner: str, repo: str, path: str) -> Response:
        ref = request.args.get("ref", "main")
        content = self._contents.get((owner, repo, path.strip("/"), ref))
        if content is None:
            return _error(404, "Not Found")
        data = _example("content-file-response-if-content-is-a-file")
        blob_sha = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
        encoded = base64.b64encode(content).decode()
        name = path.rsplit("/", 1)[-1]
        api = f"https://api.github.com/repos/{owner}/{repo}"
        data.update(
            name=name,
            path=path,
            sha=blob_sha,
            size=len(content),
            # GitHub wraps the base64 text at 60 characters
            content="\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n",
            url=f"{api}/contents/{path}?ref={ref}",
            git_url=f"{api}/git/blobs/{blob_sha}",
            html_url=f"https://github.com/{owner}/{repo}/blob/{ref}/{path}",
            download_url=f"https://raw.githubusercontent.com/{owner}/{repo}/{ref}/{path}",
        )
        data["_links"] = {"self": data["url"], "git": data["git_url"], "html": data["html_url"]}
        return _json(data)

    def _on_create_check_run(self, request: Request, *, body: Any, owner: str, repo: str) -> Response:
        run_id = self._new_id()
        status = body.get("status", "queued")
        conclusion = body.get("conclusion")
        run = FakeCheckRun(
            run_id, owner, repo, body["name"], body["head_sha"], "completed" if conclusion else status, conclusion
        )
        self._apply_output(run, body)
        self.check_runs[run_id] = run
        return _json(self._check_run_json(run), status=201)

    def _on_update_check_run(self, request: Request, *, body: Any, owner: str, repo: str, run_id: int) -> Response:
        run = self.check_runs.get(run_id)
        if run is None or (run.owner, run.repo) != (owner, repo):
            return _error(404, "Not Found")
        if "status" in body:
            run.status = body["status"]
        if body.get("conclusion"):
            run.conclusion, run.status = body["conclusion"], "completed"
        self._apply_output(run, body)
        return _json(self._check_run_json(run))

    def _on_ref_check_runs(self, request: Request, *, body: Any, owner: str, repo: str, ref: str) -> Response:
        name = request.args.get("check_name")
        runs = [
            self._check_run_json(r)
            for r in self.check_runs.values()
            if (r.owner, r.repo, r.head_sha) == (owner, repo, ref) and name in (None, r.name)
        ]
        return self._page(request, runs, key="check_runs")

    def _apply_output(self, run: FakeCheckRun, body: dict[str, Any]) -> None:
        run.bodies.append(copy.deepcopy(body))
        output = body.get("output")
        if output:
            run.title = output.get("title", run.title)
            run.summary = output.get("summary", run.summary)
            run.text = output.get("text", run.text)
            run.annotation_batches.append(list(output.get("annotations", [])))

    def _check_run_json(self, run: FakeCheckRun) -> dict[str, Any]:
        data: dict[str, Any] = _example("check-run")
        api = f"https://api.github.com/repos/{run.owner}/{run.repo}"
        data.update(
            id=run.id,
            node_id=f"CR_{run.id}",
            name=run.name,
            head_sha=run.head_sha,
            status=run.status,
            conclusion=run.conclusion,
            url=f"{api}/check-runs/{run.id}",
            html_url=f"https://github.com/{run.owner}/{run.repo}/runs/{run.id}",
            completed_at=_now() if run.status == "completed" else None,
        )
        data["output"].update(
            title=run.title,
            summary=run.summary,
            text=run.text,
            annotations_count=len(run.annotations),
            annotations_url=f"{api}/check-runs/{run.id}/annotations",
        )
        return data

    def _page(self, request: Request, items: list[Any], *, key: str | None = None) -> Response:
        """One page of items with GitHub's Link header (per_page at most 100)."""
        per_page = min(_int_arg(request, "per_page", 30), 100)
        page = max(_int_arg(request, "page", 1), 1)
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        payload: Any = {"total_count": len(items), key: chunk} if key else chunk
        links = []
        base = request.base_url
        if self.link_origin is not None:
            base = self.link_origin + urllib.parse.urlsplit(base).path
        args = {k: v for k, v in request.args.items()}

        def link(n: int, rel: str) -> str:
            query = urllib.parse.urlencode({**args, "per_page": per_page, "page": n})
            return f'<{base}?{query}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        headers = {"Link": ", ".join(links)} if links else {}
        return _json(payload, headers=headers)


class _QuietHandler(WSGIRequestHandler):
    """Keep werkzeug's per-request log lines out of test output."""

    def log(self, type: str, message: str, *args: Any) -> None:
        pass


# operation templates of the subset by route endpoint
_TEMPLATES = {
    "pulls": "/repos/{owner}/{repo}/pulls",
    "pull": "/repos/{owner}/{repo}/pulls/{pull_number}",
    "reviews": "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
    "files": "/repos/{owner}/{repo}/pulls/{pull_number}/files",
    "commits": "/repos/{owner}/{repo}/pulls/{pull_number}/commits",
    "membership": "/orgs/{org}/teams/{team_slug}/memberships/{username}",
    "team": "/orgs/{org}/teams/{team_slug}",
    "contents": "/repos/{owner}/{repo}/contents/{path}",
    "create_check_run": "/repos/{owner}/{repo}/check-runs",
    "update_check_run": "/repos/{owner}/{repo}/check-runs/{check_run_id}",
    "ref_check_runs": "/repos/{owner}/{repo}/commits/{ref}/check-runs",
}


def _path_for_validation(template: str, path: str) -> str:
    """The path openapi-core can match.

    GitHub marks the contents `{path}` parameter `x-multi-segment`: it spans '/'.
    OpenAPI 3.0 path matching stops at '/', so encode those slashes for matching only.
    """
    if template.endswith("/contents/{path}"):
        head, _, rest = path.partition("/contents/")
        return f"{head}/contents/{urllib.parse.quote(rest, safe='')}"
    return path


def _basic_error_problem(data: bytes) -> str:
    """'' if data is GitHub's generic error body (basic-error with a message)."""
    from openapi_schema_validator import OAS30Validator

    try:
        body = json.loads(data)
    except ValueError:
        return "the error body is not JSON"
    schema = dict(load_subset()["components"]["schemas"]["basic-error"])
    schema["required"] = ["message"]
    problems = [e.message for e in OAS30Validator(schema).iter_errors(body)]
    return "; ".join(problems)


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return _json({"message": message, "documentation_url": DOCS, "status": str(status)}, status=status, headers=headers)


def _json(payload: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload), status=status, headers=headers or {}, content_type="application/json; charset=utf-8"
    )


def _int_arg(request: Request, name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError:
        return default


def _user(login: str) -> dict[str, Any]:
    user = _example("pull-request-review-items")[0]["user"]
    user.update(
        login=login,
        id=zlib.crc32(login.encode()) % 10_000_000,
        node_id=f"U_{login}",
        url=f"https://api.github.com/users/{login}",
        html_url=f"https://github.com/{login}",
    )
    return dict(user)


def _set_repo(repo: dict[str, Any], full_name: str) -> None:
    owner, name = full_name.split("/", 1)
    repo.update(
        name=name,
        full_name=full_name,
        html_url=f"https://github.com/{full_name}",
        url=f"https://api.github.com/repos/{full_name}",
    )
    repo["owner"] = _user(owner)


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- fixtures -------------------------------------------------------------------


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    """A started fake GitHub; any request or response GitHub's description forbids fails the test."""
    with FakeGitHub() as server:
        yield server
    server.assert_no_violations()


@pytest.fixture
def fake_ghes() -> Iterator[FakeGitHub]:
    """The same fake under /api/v3, the path of a GitHub Enterprise Server API."""
    with FakeGitHub(prefix="/api/v3") as server:
        yield server
    server.assert_no_violations()
