"""Approval sources: the votes a change has, read from signed records or from GitHub.

Signed records: each approver's latest valid record (engine.records.approvals) on the
trees an update brings, from the notes in `refs/notes/changegate/approvals`; who may
approve that way is matched against allowed_signers principals. GitHub: the standing
reviews of a pull request (`policy check --github-pr`, or a GitHub Enterprise Server merge
button), read once per decision, with team membership read through the API. Both give
`Vote`s that engine.approvals.tally judges alike.

Imported by the push hook: `requests` (through engine.facts.github_client) and
`cryptography` (through engine.attest's verification) are imported only when used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from engine.approvals import APPROVED, CHANGES_REQUESTED, Eligibility, Rejected, Requirement, Vote
from engine.change import RefUpdate, show
from engine.identities import Identity, Owners, normalise
from engine.records.approvals import Record, RecordRejected, verify_record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from engine.attest import AllowedSigners
    from engine.change import Inputs
    from engine.facts.github import PullCommit, PullRequest, Review
    from engine.facts.github_client import GitHub
    from engine.facts.interface import Facts
    from engine.policy.patterns import Matcher

MAX_TREES = 1000  # trees of one ref update searched for records (one git process in all)


# --- signed records ------------------------------------------------------------------------


def signed_votes(facts: Facts, update: RefUpdate, refs: Matcher | None, requirement: Requirement,
                 allowed: AllowedSigners) -> tuple[list[Vote], list[Rejected]]:
    """Each approver's latest valid record for this ref among the trees the update brings."""
    judged = facts.tree(update.new)
    commits = facts.commits_for(update, refs)
    trees = list(dict.fromkeys([judged, *(c.tree for c in commits)]))[:MAX_TREES]
    commit_of = {c.tree: c.oid for c in reversed(commits)}  # newest commit with that tree
    commit_of[judged] = update.new
    now = dt.datetime.fromtimestamp(facts.now, dt.UTC)
    latest: dict[str, tuple[Record, bool]] = {}
    rejected: list[Rejected] = []
    for tree, lines in facts.notes_on("approvals", trees).items():
        for line in lines:
            try:
                record = verify_record(line, allowed, tree=tree, now=now)
            except RecordRejected as exc:
                where = "" if exc.reason == "replayed-tree" else f" (record on tree {tree[:10]})"
                rejected.append(Rejected(exc.reason, exc.message + where))
                continue
            if record.ref != update.name:
                rejected.append(Rejected("replayed-ref", f"{record.approver}'s record on tree {tree[:10]} "
                                                         f"approves {show(record.ref)}, not {update.name}"))
                continue
            fresh = tree == judged or not requirement.invalidate_on_push
            key = record.approver.casefold()
            standing = latest.get(key)
            # the latest record stands; at the same instant a veto wins (doubt denies, whatever the line order)
            if standing is None or record.time > standing[0].time or (
                    record.time == standing[0].time and record.decision == CHANGES_REQUESTED):
                latest[key] = (record, fresh)
    votes = []
    for record, fresh in latest.values():
        on = f"commit {commit_of.get(record.tree, record.commit)[:10]} (tree {record.tree[:10]})"
        votes.append(Vote(record.approver, record.decision, fresh, on, "signed record", record.comment))
    return votes, rejected


def signer_eligibility(requirement: Requirement) -> Callable[[str], Eligibility]:
    """Who may approve by signed record: from.signers or from.users, matched as principals."""
    from engine.attest import match_pattern_list

    def check(who: str) -> Eligibility:
        if not requirement.restricted:
            return Eligibility(True)
        if any(match_pattern_list(who, p) == 1 for p in requirement.signers):
            return Eligibility(True)
        if any(who.casefold() == u.casefold() for u in requirement.users):
            return Eligibility(True)
        listed = [*requirement.signers, *requirement.users]
        why = f"not among {', '.join(listed)}" if listed else "no signer or user is eligible"
        if requirement.teams:
            why += (f"; team membership ({', '.join(requirement.teams)}) cannot be proven by a signed record, "
                    "so list the approvers under from.signers")
        return Eligibility(False, why)

    return check


def signed_candidates(requirement: Requirement, allowed: AllowedSigners | None, *, owners: Owners,
                      done: Sequence[str]) -> list[str]:
    """Who could still give a signed approval: eligible principals, minus the change's own people
    and those who did."""
    names: list[str]
    if requirement.signers or requirement.users:
        names = [*requirement.signers, *requirement.users]
    elif allowed is not None and not requirement.teams:
        names = [p for e in allowed.entries for p in e.principals.split(",")]
    else:
        names = []
    given = {normalise(d) for d in done}
    return [n for n in dict.fromkeys(names) if owners.match(n) is None and normalise(n) not in given]



# --- GitHub pull requests -------------------------------------------------------------------


@dataclass
class PullFacts:
    """What one pull request shows, read once per decision (shared by every approvals rule)."""

    slug: str  # OWNER/REPO#N
    owner: str
    repo: str
    pull: PullRequest | None = None
    reviews: dict[str, Review] = field(default_factory=dict)
    commits: list[PullCommit] = field(default_factory=list)
    files: int = 0
    error: Exception | None = None
    client: GitHub | None = None
    members: dict[tuple[str, str], bool] = field(default_factory=dict)


def parse_pr(text: str) -> tuple[str, str, int]:
    """OWNER/REPO#N -> (owner, repo, n); ValueError otherwise."""
    repo_part, sep, number = text.partition("#")
    owner, slash, repo = repo_part.partition("/")
    if not (sep and slash and owner and repo and number.isdigit()) or "/" in repo:
        raise ValueError(f"{text!r} is not OWNER/REPO#NUMBER")
    return owner, repo, int(number)


def ghes_merge(environ: Mapping[str, str]) -> tuple[str, str, str, str] | None:
    """(owner, repo, head, base) when a GitHub Enterprise Server merge button runs the hook."""
    via = environ.get("GITHUB_VIA", "")
    head, base = environ.get("GITHUB_PULL_REQUEST_HEAD", ""), environ.get("GITHUB_PULL_REQUEST_BASE", "")
    owner, _, repo = environ.get("GITHUB_REPO_NAME", "").partition("/")
    if "merge" in via.lower() and head and base and owner and repo:
        return owner, repo, head, base
    return None


def github_source(inputs: Inputs, policy: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """Why GitHub is the approvals source here (None: signed records are)."""
    if inputs.github_pr:
        return f"pull request {inputs.github_pr}"
    if ghes_merge(environ) is not None and (policy.get("sources") or {}).get("github"):
        return "the GitHub Enterprise Server merge button"
    return None


def read_pull(inputs: Inputs, policy: Mapping[str, Any], environ: Mapping[str, str]) -> PullFacts:
    """Read the pull request (once per decision: Facts.pull_request keeps it); errors are kept
    and reported by each rule."""
    from engine.facts.github_client import DEFAULT_API_URL, GitHub, GitHubError

    config = (policy.get("sources") or {}).get("github") or {}
    in_hook = not inputs.github_pr
    found = PullFacts(inputs.github_pr or "", "", "")
    try:
        # the hook has 5 s for everything (GitHub Enterprise); a CLI or CI run may wait longer
        api = config.get("api") or inputs.github_api or DEFAULT_API_URL  # the policy's word first
        client = GitHub(api, token_env=config.get("token_env", "GITHUB_TOKEN"), environ=environ,
                        timeout=2.0 if in_hook else 10.0, max_attempts=2 if in_hook else 4,
                        max_wait=1.0 if in_hook else 30.0)
        found.client = client
        if inputs.github_pr:
            owner, repo, number = parse_pr(inputs.github_pr)
        else:
            merge = ghes_merge(environ)
            assert merge is not None
            owner, repo = merge[0], merge[1]
            number = _find_pull(client, *merge)
            found.slug = f"{owner}/{repo}#{number}"
        found.owner, found.repo = owner, repo
        found.pull = client.pull_request(owner, repo, number)
        found.files = len(client.pull_request_files(owner, repo, number))
        found.reviews = client.latest_reviews_by_user(owner, repo, number)
        found.commits = client.pull_request_commits(owner, repo, number)
    except (GitHubError, ValueError) as exc:
        found.error = exc
    return found


def _find_pull(client: GitHub, owner: str, repo: str, head: str, base: str) -> int:
    """The open PR merging `head` (user:branch) into `base` (user:branch or branch)."""
    from engine.facts.github_client import GitHubError

    branch = base.split(":", 1)[-1]
    numbers = client.find_open_pulls(owner, repo, head=head, base=branch)
    if len(numbers) != 1:
        raise GitHubError("not_found", f"no single open pull request merges {head} into {branch} "
                                       f"in {owner}/{repo} ({len(numbers)} found)")
    return numbers[0]


def github_votes(found: PullFacts, requirement: Requirement) -> list[Vote]:
    assert found.pull is not None
    head = found.pull.head_sha
    votes = []
    for login, review in found.reviews.items():
        decision = APPROVED if review.state == "APPROVED" else CHANGES_REQUESTED
        fresh = review.commit_id == head or not requirement.invalidate_on_push
        on = f"commit {(review.commit_id or 'unknown')[:10]} (review {review.id})"
        votes.append(Vote(login, decision, fresh, on, "review"))
    return votes


def github_owned(found: PullFacts) -> list[Identity]:
    """Whose pull request it is: its author, and every GitHub account and address its commits'
    authors and committers map to (web-flow, GitHub's own committer, is nobody's)."""
    assert found.pull is not None
    owned = [Identity("user", found.pull.author or "", "the pull request's author")]
    for commit in found.commits:
        where = f"of commit {commit.sha[:10]}"
        owned += [Identity("user", commit.author_login or "", f"the author's login {where}"),
                  Identity("user", commit.committer_login or "", f"the committer's login {where}"),
                  Identity("email", commit.author_email or "", f"the author e-mail {where}"),
                  Identity("email", commit.committer_email or "", f"the committer e-mail {where}")]
    return [i for i in owned if not (i.kind == "user" and i.value == "web-flow")]


def github_eligibility(found: PullFacts, requirement: Requirement) -> Callable[[str], Eligibility]:
    """Eligible: listed in from.users, or an active member of a from.teams team (read through the API;
    a token that cannot read teams raises GitHubError(team_unreadable): the rule fails closed)."""

    def check(login: str) -> Eligibility:
        if not requirement.users and not requirement.teams:
            if requirement.signers:
                return Eligibility(False, "only from.signers are eligible, and they approve by signed "
                                          "record, not by review")
            return Eligibility(True)
        if any(login.casefold() == u.casefold() for u in requirement.users):
            return Eligibility(True)
        for team in requirement.teams:
            org, slug = team.split("/", 1)
            key = (team, login.casefold())
            if key not in found.members:
                assert found.client is not None
                found.members[key] = found.client.team_member(org, slug, login)
            if found.members[key]:
                return Eligibility(True)
        listed = [*requirement.users, *(f"team {t}" for t in requirement.teams)]
        return Eligibility(False, f"not among {', '.join(listed)}")

    return check

