"""Approvals: who signed off on a change, from GitHub reviews or from signed records in git notes.

Two sources, one judgement. A source turns what it reads into `Vote`s (one standing
decision per approver) and `Rejected` records (what proved nothing, and why); `tally`
then applies the policy shared by both: nobody approves their own change, only
eligible approvers count, an eligible approver's request for changes vetoes, and with
`invalidate_on_push` an approval counts only for the exact tree (GitHub: head commit)
it was given on.

Signed record: an in-toto Statement whose subject is the gitTree of the approved
commit, predicateType `urn:changegate:predicate:approval:v1`, predicate
`{approver, decision, ref, commit, comment, time}`, in a DSSE envelope signed with the
approver's OpenSSH ed25519 key (namespace `changegate-approval`), stored as one line of
the note on that tree in `refs/notes/changegate/approvals`. The approver identity is an
allowed_signers principal: the key must be listed for it.

This module is imported by the push hook: `requests` (through engine.facts.github_client) and
`cryptography` (through engine.attest's verification) are imported only when used.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from engine import notes
from engine.change import RefUpdate, show
from engine.identities import Identity, Owners, normalise

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from engine.attest import AllowedSigners, Statement
    from engine.facts.github import PullCommit, PullRequest, Review
    from engine.facts.github_client import GitHub
    from engine.facts.interface import Facts
    from engine.git import Git
    from engine.policy.patterns import Matcher
    from engine.rules.approvals import ApprovalsParams

PREDICATE_TYPE = "urn:changegate:predicate:approval:v1"
APPROVED = "approved"
CHANGES_REQUESTED = "changes_requested"
DECISIONS = (APPROVED, CHANGES_REQUESTED)
NOTES_PREFIX = b"refs/notes/"
MAX_TREES = 1000  # trees of one ref update searched for records (one git process in all)


# --- the requirement ------------------------------------------------------------


@dataclass(frozen=True)
class Requirement:
    """`require: {approvals: {...}}` with its defaults."""

    count: int
    users: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    signers: tuple[str, ...] = ()
    exclude_author: bool = True
    invalidate_on_push: bool = True
    webhook: str | None = None

    @classmethod
    def from_params(cls, params: ApprovalsParams) -> Requirement:
        eligible = params.from_ or {}
        return cls(
            count=params.count,
            users=tuple(eligible.get("users", ())),
            teams=tuple(eligible.get("teams", ())),
            signers=tuple(eligible.get("signers", ())),
            exclude_author=params.exclude_author,
            invalidate_on_push=params.invalidate_on_push,
            webhook=(params.notify or {}).get("webhook"),
        )

    @property
    def restricted(self) -> bool:
        """Whether `from:` limits who may approve (without it, any authenticated approver may)."""
        return bool(self.users or self.teams or self.signers)

    def describe(self, *, on: str = "the exact tree judged") -> str:
        parts = []
        if self.users:
            parts.append("users " + ", ".join(self.users))
        if self.teams:
            parts.append("members of team(s) " + ", ".join(self.teams))
        if self.signers:
            parts.append("signers " + ", ".join(self.signers))
        who = " or ".join(parts) if parts else "any approver"
        rules = []
        if self.exclude_author:
            rules.append("not by an author of the change or its pusher")
        rules.append(f"given on {on}" if self.invalidate_on_push
                     else "given on any commit the change brings")
        return f"{self.count} approval(s) from {who}, {', '.join(rules)}, and no eligible request for changes"


# --- what sources produce ----------------------------------------------------------


@dataclass(frozen=True)
class Vote:
    """One approver's standing decision (their latest), wherever it came from."""

    who: str
    decision: str  # APPROVED | CHANGES_REQUESTED
    fresh: bool  # given on what is judged now (the tree pushed, or the PR head)
    on: str  # what it was given on, for people: "commit 1a2b3c4d5e (tree 9f8e7d6c5b)"
    via: str  # "review" | "signed record"
    comment: str = ""


@dataclass(frozen=True)
class Rejected:
    """A record that proves nothing, with the reason (stable) and the explanation."""

    reason: str
    message: str


@dataclass(frozen=True)
class Eligibility:
    ok: bool
    why: str = ""


@dataclass
class Tally:
    """The judgement of one set of votes against one requirement."""

    valid: list[Vote] = field(default_factory=list)
    vetoes: list[Vote] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # lines: who, and why it does not count
    rejected: list[Rejected] = field(default_factory=list)
    needed: int = 0

    @property
    def satisfied(self) -> bool:
        return self.needed == 0 and not self.vetoes

    def seen(self) -> list[str]:
        lines = [f"veto: {v.who} requested changes ({v.via}, {v.on})" for v in self.vetoes]
        lines += [f"valid: approved by {v.who} ({v.via}, {v.on})" for v in self.valid]
        lines += [f"ignored: {line}" for line in self.ignored]
        lines += [f"rejected record: {r.reason}: {r.message}" for r in self.rejected]
        return lines


def tally(requirement: Requirement, votes: Sequence[Vote], rejected: Sequence[Rejected], *,
          owners: Owners, eligible: Callable[[str], Eligibility], judged: str) -> Tally:
    """Apply the shared rules: self-approval, eligibility, veto, freshness, count.

    `owners` says whether an approver is one of the change's own people (its pusher, authors,
    committers; engine.identities). `eligible` may raise (e.g. a team GitHub does not let the
    token read): callers fail closed. `judged` names what an approval must be given on, for the
    stale explanation.
    """
    result = Tally(rejected=list(rejected))
    counted: dict[str, Vote] = {}  # person -> the approval counted for them
    for vote in votes:
        verb = "approved" if vote.decision == APPROVED else "requested changes on"
        why = owners.match(vote.who) if requirement.exclude_author else None
        if why is not None:
            result.ignored.append(f"{vote.who} {verb} their own change ({why}; exclude_author)")
            continue
        verdict = eligible(vote.who)
        if not verdict.ok:
            done = "approved" if vote.decision == APPROVED else "requested changes"
            result.ignored.append(f"{vote.who} {done} but is not eligible: {verdict.why}")
            continue
        if vote.decision == CHANGES_REQUESTED:
            result.vetoes.append(vote)
        elif not vote.fresh:
            result.ignored.append(f"{vote.who}'s approval is stale: given on {vote.on}, but {judged} "
                                  "is judged now (invalidate_on_push)")
        else:
            person, how = owners.person_of(vote.who)
            first = counted.setdefault(person, vote)
            if first is not vote:  # one person, several principals: one approval
                result.ignored.append(f"{vote.who}'s approval is not counted again: {how} as "
                                      f"{first.who}, who already approved")
                continue
            result.valid.append(vote)
    result.needed = max(0, requirement.count - len(result.valid))
    return result


# --- signed records -------------------------------------------------------------------


def approval_statement(*, tree: str, commit: str, ref: str, approver: str, comment: str = "",
                       decision: str = APPROVED, when: dt.datetime | None = None) -> Statement:
    from engine.attest import Statement, Subject

    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {', '.join(DECISIONS)}")
    # to the millisecond: an approver's later record must sort after their earlier one (a tie is a veto)
    moment = (when or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    predicate = {"approver": approver, "decision": decision, "ref": ref, "commit": commit,
                 "comment": comment, "time": stamp}
    return Statement((Subject.git_tree(tree),), PREDICATE_TYPE, predicate)


def sign_approval(git: Git, *, commit: str, ref: str, approver: str, key: str, comment: str = "",
                  decision: str = APPROVED, when: dt.datetime | None = None,
                  passphrase: str | None = None) -> tuple[str, bytes]:
    """Sign a record for `commit`'s tree and add it to the approvals note; (tree, envelope)."""
    from engine.attest import sign_statement

    tree = git.tree_of(commit)
    statement = approval_statement(tree=tree, commit=commit, ref=ref, approver=approver, comment=comment,
                                   decision=decision, when=when)
    envelope = sign_statement(statement, key, passphrase=passphrase)
    notes.add(git, "approvals", tree, envelope)
    return tree, envelope


@dataclass(frozen=True)
class Record:
    """A verified approval record: the signature, the approver's key and the tree binding hold."""

    approver: str
    decision: str
    ref: str
    commit: str
    tree: str
    comment: str
    time: dt.datetime
    fingerprint: str


def verify_record(line: bytes, allowed: AllowedSigners, *, tree: str, now: dt.datetime) -> Record:
    """Check one note line: signed by an allowed key for its approver, bound to `tree`.

    Raises RecordRejected with a stable reason. The ref and freshness are the caller's.
    """
    from engine.attest import NAMESPACE_APPROVAL, EnvelopeRejected, match_pattern_list, verify_envelope

    try:
        verified = verify_envelope(line, allowed, namespace=NAMESPACE_APPROVAL, now=now,
                                   predicate_type=PREDICATE_TYPE)
    except EnvelopeRejected as exc:
        reason = {"bad-signature": "forged-or-tampered"}.get(exc.reason.value, exc.reason.value)
        raise RecordRejected(reason, exc.message) from None
    predicate = verified.statement.predicate
    fields = {k: predicate.get(k) for k in ("approver", "decision", "ref", "commit", "comment", "time")}
    problems = [k for k in ("approver", "decision", "ref", "commit", "time") if not isinstance(fields[k], str)
                or not fields[k]]
    if problems or fields["decision"] not in DECISIONS:
        what = ", ".join(problems) or f"decision {fields['decision']!r}"
        raise RecordRejected("invalid-record", f"signed, but the approval record lacks or misstates: {what}")
    approver = str(fields["approver"])
    try:
        when = dt.datetime.fromisoformat(str(fields["time"]))
    except ValueError:
        raise RecordRejected("invalid-record", f"signed, but its time {fields['time']!r} is not ISO 8601") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    signer = next((s for s in verified.signers if any(match_pattern_list(approver, p) == 1 for p in s.principals)),
                  None)
    if signer is None:
        keys = "; ".join(f"{s.fingerprint} is listed for {', '.join(s.principals)}" for s in verified.signers)
        raise RecordRejected("impersonation", f"the record claims approver {approver!r}, but its key is not "
                                              f"listed for that principal in {allowed.source} ({keys})")
    trees = verified.statement.digests("gitTree")
    if tree not in trees:
        raise RecordRejected("replayed-tree", f"{approver}'s record was signed for tree "
                                              f"{', '.join(t[:10] for t in trees) or '(none)'} but is attached "
                                              f"to tree {tree[:10]}: a copy, not an approval of this tree")
    return Record(approver, str(fields["decision"]), str(fields["ref"]), str(fields["commit"]), tree,
                  str(fields["comment"] or ""), when, signer.fingerprint)


class RecordRejected(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


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


_PULLS: weakref.WeakKeyDictionary[Facts, PullFacts] = weakref.WeakKeyDictionary()


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


def github_source(facts: Facts) -> str | None:
    """Why GitHub is the approvals source here (None: signed records are)."""
    if facts.inputs.github_pr:
        return f"pull request {facts.inputs.github_pr}"
    if ghes_merge(os.environ) is not None and (facts.policy.get("sources") or {}).get("github"):
        return "the GitHub Enterprise Server merge button"
    return None


def pull_facts(facts: Facts) -> PullFacts:
    """Read the pull request once per decision; errors are kept and reported by each rule."""
    cached = _PULLS.get(facts)
    if cached is not None:
        return cached
    from engine.facts.github_client import DEFAULT_API_URL, GitHub, GitHubError

    config = (facts.policy.get("sources") or {}).get("github") or {}
    in_hook = not facts.inputs.github_pr
    found = PullFacts(facts.inputs.github_pr or "", "", "")
    _PULLS[facts] = found
    try:
        # the hook has 5 s for everything (GitHub Enterprise); a CLI or CI run may wait longer
        api = config.get("api") or facts.inputs.github_api or DEFAULT_API_URL  # the policy's word first
        client = GitHub(api, token_env=config.get("token_env", "GITHUB_TOKEN"),
                        timeout=2.0 if in_hook else 10.0, max_attempts=2 if in_hook else 4,
                        max_wait=1.0 if in_hook else 30.0)
        found.client = client
        if facts.inputs.github_pr:
            owner, repo, number = parse_pr(facts.inputs.github_pr)
        else:
            merge = ghes_merge(os.environ)
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


# --- notification ---------------------------------------------------------------------------------


def notify(url: str, message: dict[str, Any], *, timeout: float = 2.0) -> str:
    """POST one JSON message; returns what happened, for the outcome (never raises).

    Only the scheme and host are shown: webhook URLs often carry a secret in their path.
    """
    import urllib.error
    import urllib.parse
    import urllib.request

    parts = urllib.parse.urlsplit(url)
    where = f"{parts.scheme}://{parts.netloc}"
    data = json.dumps(message, sort_keys=True).encode()
    request = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/json",
                                              "User-Agent": "changegate-approvals"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        return f"notifying {where} failed: it answered {exc.code}"
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"notifying {where} failed: {reason}"
    return f"notified {where}" if status < 300 else f"notifying {where} failed: it answered {status}"
