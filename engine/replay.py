"""Replay a policy over history: what would it have denied, had it been on?

Each first-parent step of a replayed ref (`old..new`, oldest first) is taken for the push
that made it and judged by the one pipeline (engine.judge.judge), as the hook would have
judged it: stage push (or the stage asked for), the server holding the replayed refs as
they were before that step, and `now` the step's commit time.

Speed: history is read by two git processes per replay, whatever its length: one
`git log --first-parent` per ref for the steps and their times, and one `git log --raw` for
every commit with its changed paths. Each step's commits are then found in memory (a
walk from the new commit that stops at what the ref, or the server, already had) and
handed to the rules through engine.facts.replay.ReplayFacts. The rules are built once (Rules),
so their compiled pattern sets, and the one group that matches each path against all of
them, serve every step.

What cannot be replayed is said, never guessed:
* live rules (threshold, alerts, benchmark) judge the running system, at merge and deploy
  only. At stage merge or deploy, threshold and alerts rules are judged at each step's
  time when the policy configures sources.prometheus (Prometheus answers for the past);
  every other live rule is reported as not replayable, counted and named.
* records (approvals, evidence notes) are read as they are now: history does not keep
  the notes refs' past values. The report names the rules this concerns.
* the pusher is not in history: nobody is exempt through except.actors unless --actor
  names who to judge as.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from engine.change import Actor, Change, Commit, Inputs, RefUpdate
from engine.decision import Decision
from engine.facts.replay import ReplayFacts
from engine.git import Git
from engine.judge import judge
from engine.policy.patterns import Matcher
from engine.rules import build_rules

TYPE_CHECKING = False
if TYPE_CHECKING:
    from engine.change import Stage
    from engine.facts.interface import Facts
    from engine.policy.patterns import MatcherGroup, Verdict
    from engine.rules.base import Rule

# Kinds whose verdict depends on records stored as git notes, read as they are now.
RECORD_KINDS = ("require.approvals", "require.evidence")
# Live kinds that can be judged at a past time, given a configured Prometheus.
HISTORICAL_KINDS = ("require.threshold", "require.alerts")
UNKNOWN_PUSHER = Actor("", "replay", "history (the pusher is not recorded)")


class ReplayError(Exception):
    """What the user asked for cannot be replayed (no such ref, not a commit): a usage error."""


class Step(NamedTuple):
    """One reconstructed update of a ref (a first-parent step), or one recorded push."""

    ref: bytes
    old: str  # "" when the ref did not exist (its root commit creates it)
    new: str
    time: float  # the committer time of `new`; a push's recorded time
    more: tuple[RefUpdate, ...] = ()  # a recorded push's other ref updates
    actor: Actor | None = None  # a recorded push's pusher
    accepted: bool = True  # whether the hook let a recorded push in (so the server's refs moved)


class History(NamedTuple):
    commits: dict[str, Commit]  # every commit the steps bring, with its changed paths
    steps: list[Step]  # in replay order: each ref's own order, refs interleaved by commit time
    seeds: dict[bytes, str]  # a ref forked from an earlier replayed ref within the window: its fork commit
    width: int  # object id length (40 for SHA-1, 64 for SHA-256)
    held: dict[bytes, set[str]]  # per ref: commits on another replayed ref when the window opened,
    # outside the window's walk, that the ref's steps may bring (see _held_by_others)


class Found(NamedTuple):
    """One rule's failing (or warning) outcome on one step, with the commits and paths it names."""

    step: Step
    rule: str
    status: str
    denies: bool
    message: str
    seen: tuple[str, ...]
    required: str
    fix: str
    commits: tuple[str, ...]
    paths: tuple[str, ...]


class Skipped(NamedTuple):
    rule: str
    kind: str
    reason: str


class Plan(NamedTuple):
    """Which rules the replay judges, and what it says about the others."""

    policy: dict[str, Any]  # the compiled policy without the rules it cannot replay
    not_replayable: tuple[Skipped, ...]
    records_now: tuple[str, ...]  # rules judged with records as they are now
    other_stages: tuple[str, ...]  # rules never judged at the replayed stage


def plan(policy: dict[str, Any], stage: Stage) -> Plan:
    """Split the policy's rules into those replayed and those reported as not replayable."""
    prometheus = "prometheus" in (policy.get("sources") or {})
    kept, skipped, records, elsewhere = [], [], [], []
    for spec in policy["rules"]:
        kind = spec["kind"]
        live = _is_live(spec)
        if stage not in spec["on"]:
            elsewhere.append(spec["id"])
            if live:
                skipped.append(Skipped(spec["id"], kind, f"live data ({kind}), judged at {', '.join(spec['on'])}; "
                                                         f"the replay judges stage {stage}"))
            continue
        if live and not (kind in HISTORICAL_KINDS and prometheus):
            why = ("reads the live system (an evaluation run, a results file or MLflow) as it is now, "
                   "not as it was" if kind not in HISTORICAL_KINDS else "the policy configures no sources.prometheus")
            skipped.append(Skipped(spec["id"], kind, why))
            continue
        if kind in RECORD_KINDS:
            records.append(spec["id"])
        kept.append(spec)
    return Plan({**policy, "rules": kept}, tuple(skipped), tuple(records), tuple(elsewhere))


def _is_live(spec: dict[str, Any]) -> bool:
    import importlib

    module, name = spec["implementation"]
    return bool(getattr(importlib.import_module(module), name).live)


def default_ref(git: Git) -> str:
    """The repository's HEAD branch, as a full ref name."""
    code, out = git.run_status("symbolic-ref", "--quiet", "HEAD", ok=(0, 1, 128))
    name = out.decode("utf-8", "surrogateescape").strip()
    if code != 0 or not name.startswith("refs/"):
        raise ReplayError("HEAD names no branch here: give the ref(s) to replay with --ref refs/heads/NAME")
    return name


def read_history(git: Git, refs: Sequence[str], *, since: float | None) -> History:
    """Every step of `refs` (full names) whose commit time is at or after `since` (epoch seconds;
    None: the whole history), and every commit those steps bring. A ref's window ends at the
    first first-parent commit older than `since`."""
    chains: list[tuple[bytes, list[tuple[str, str, float]]]] = []
    claimed: set[str] = set()  # first-parent commits of the refs listed before
    seeds: dict[bytes, str] = {}
    tips, exclude, width = [], [], 40
    starts: list[tuple[bytes, str, str]] = []  # (ref, tip, the commit its window opens on), refs with steps
    for name in refs:
        tip = _tip(git, name)
        width = len(tip)
        chain = []
        for line in git.run("log", "--first-parent", "--format=%H %ct %P", tip).decode("ascii").splitlines():
            oid, stamp, *parents = line.split()
            if since is not None and int(stamp) < since:
                break
            chain.append((oid, parents[0] if parents else "", float(stamp)))
        chain.reverse()
        shared = 0
        while shared < len(chain) and chain[shared][0] in claimed:  # branched off a ref replayed before it
            shared += 1
        fork = chain[shared - 1][0] if shared else ""  # ... so it is replayed from there
        chain = chain[shared:]
        raw = name.encode("utf-8", "surrogateescape")
        if fork:
            seeds[raw] = fork
        elif chain and chain[0][1]:
            exclude.append(chain[0][1])  # what the ref held when the window opens
        claimed.update(oid for oid, _, _ in chain)
        if chain:
            tips.append(chain[-1][0])
            starts.append((raw, chain[-1][0], fork or chain[0][1]))
        chains.append((raw, chain))
    # the walk, then its diffs over parallel diff-tree processes (git's single-threaded hot spot)
    exclude = [o for o in exclude if o not in claimed]
    walked = git.rev_list(tips, exclude=exclude) if tips else []
    commits = {c.oid: c for c in git.commits([oid for oid, _ in walked])}
    held = _held_by_others(git, commits, starts) if exclude and len(starts) > 1 else {}
    per_ref = [[Step(raw, parent, oid, stamp) for oid, parent, stamp in chain] for raw, chain in chains]
    steps = list(heapq.merge(*per_ref, key=lambda s: s.time))  # keeps each ref's own order
    return History(commits, steps, seeds, width, held)


def _held_by_others(git: Git, commits: dict[str, Commit],
                    starts: list[tuple[bytes, str, str]]) -> dict[bytes, set[str]]:
    """Per ref, the commits its steps can bring that the walk left out as being on another replayed
    ref when the window opened (merged from it later), loaded into `commits`. They are on the
    server from the start, but new to that ref: without them a rule with `refs:` would miss
    what such a merge brings."""
    held = {}
    for ref, tip, start in starts:
        if start:
            held[ref] = {oid for oid, _ in git.rev_list([tip], exclude=[start]) if oid not in commits}
    todo = sorted(set().union(*held.values())) if held else []
    commits.update((c.oid, c) for c in git.commits(todo))
    return {ref: oids for ref, oids in held.items() if oids}


def _tip(git: Git, name: str) -> str:
    if not name.startswith("refs/"):
        raise ReplayError(f"{name!r} is not a full ref name: write refs/heads/{name} (or refs/tags/...)")
    oid = git.ref(name)
    if oid is None:
        raise ReplayError(f"no ref {name} in {git.git_dir} (refs are matched by their exact full name)")
    found = git.objects([oid], peel=True)[0]
    if found is None or found[1] != "commit":
        raise ReplayError(f"{name} points at a {found[1] if found else 'missing object'}, not a commit: "
                          "only a commit has a history to replay")
    return found[0]


class _Replayer:
    """What both ways of replaying hold: the repository, the plan, how each update is judged,
    and the rules, built once for every update."""

    def __init__(self, git: Git, plan: Plan, *, stage: Stage, source: Any,
                 environ: dict[str, str] | None) -> None:
        self.git = git
        self.plan = plan
        self.stage: Stage = stage
        self.source = source
        self.environ = environ
        self.built = Rules.build(plan.policy)
        self.rules = self.built.rules


class Replay(_Replayer):
    """Judges the steps of a History in order, keeping what the server held after each."""

    def __init__(self, git: Git, history: History, plan: Plan, *, stage: Stage, actor: Actor,
                 source: Any, environ: dict[str, str] | None = None) -> None:
        super().__init__(git, plan, stage=stage, source=source, environ=environ)
        self.history = history
        self.actor = actor
        self._value: dict[bytes, str] = {}  # each replayed ref's value on the server
        self._reached: dict[bytes, set[str]] = {}  # commits (of the walk) each ref's value reaches
        held = set().union(*history.held.values()) if history.held else set()
        self._server: set[str] = set(held)  # commits (of the walk) any replayed ref reaches
        self._current: list[tuple[bytes, str]] | None = None
        for step in history.steps:  # a ref whose window opens with a value holds it from the start
            if step.ref not in self._value and step.old and step.ref not in history.seeds:
                self._value[step.ref] = step.old
        for ref, fork in history.seeds.items():
            self._reached[ref] = {c.oid for c in self._new(fork, [])}
        for ref in {step.ref for step in history.steps}:  # held commits are this ref's, except those new to it
            self._reached.setdefault(ref, set()).update(held - history.held.get(ref, set()))

    def run(self, progress: Callable[[int], None] | None = None) -> Iterator[tuple[Step, Decision, ReplayFacts]]:
        """Judge each step; yields the step, its decision and the facts it was judged on."""
        zero = "0" * self.history.width
        for step in self.history.steps:
            if step.ref not in self._value and step.old:
                self._value[step.ref] = step.old  # forked: the ref starts at its fork commit
            reached = self._reached.setdefault(step.ref, set())
            update = RefUpdate(step.old or zero, step.new, step.ref)
            ref_new = self._new(step.new, [reached])
            server_new = self._new(step.new, [self._server])
            facts = ReplayFacts(
                self.git, Change((update,), self.actor, self.stage),
                inputs=Inputs(now=step.time, environ=self.environ), policy=self.plan.policy, source=self.source,
                server=server_new, ref=ref_new, server_refs=list(self._value.items()),
                created=self._created, current_refs=self._current_refs)
            decision = self.built.judge(self.plan.policy, facts)
            reached.update(c.oid for c in ref_new)
            self._server.update(c.oid for c in server_new)
            self._value[step.ref] = step.new
            if progress is not None:
                progress(1)
            yield step, decision, facts

    def _created(self, update: RefUpdate, refs: Matcher) -> list[Commit]:
        """A created ref, for a rule with refs: the commits not on any other replayed ref it matches."""
        others = [self._reached.get(name, set()) for name in self._value if name != update.ref and refs.match(name)]
        return self._new(update.new, others)

    def _new(self, start: str, known: list[set[str]]) -> list[Commit]:
        """Commits reachable from `start` and from none of `known` (nor from before the window),
        oldest first as far as the walk tells."""
        commits = self.history.commits
        if start not in commits or any(start in k for k in known):
            return []
        found, todo, seen = [], [start], {start}
        while todo:
            oid = todo.pop()
            commit = commits[oid]
            found.append(commit)
            for parent in commit.parents:
                if parent not in seen and parent in commits and not any(parent in k for k in known):
                    seen.add(parent)
                    todo.append(parent)
        found.reverse()
        return found

    def _current_refs(self) -> list[tuple[bytes, str]]:
        if self._current is None:
            self._current = self.git.refs()
        return self._current


class Remembering(Matcher):
    """A Matcher that remembers its answers: a replay asks every rule whether the same ref is
    updated at step after step. Bounded: the memory is forgotten past MEMO entries."""

    __slots__ = ("_memo",)
    MEMO = 200_000

    def __init__(self, matcher: Matcher) -> None:
        super().__init__(matcher._compiled, matcher.patterns)
        self._memo: dict[bytes, Verdict | None] = {}

    def decide(self, name: bytes) -> Verdict | None:
        try:
            return self._memo[name]
        except KeyError:
            if len(self._memo) >= self.MEMO:
                self._memo.clear()
            verdict = self._memo[name] = super().decide(name)
            return verdict


class Rules(NamedTuple):
    """A policy's rules built once for every step: their ref matchers remember, their path
    matchers share one group (engine.judge.group_matchers), forgotten between steps."""

    rules: list[Rule]
    group: MatcherGroup | None

    @classmethod
    def build(cls, policy: dict[str, Any]) -> Rules:
        from engine.judge import group_matchers

        rules = build_rules(policy)
        for rule in rules:
            if rule.refs is not None:
                rule.refs = Remembering(rule.refs)
        return cls(rules, group_matchers(rules))

    def judge(self, policy: dict[str, Any], facts: Facts) -> Decision:
        if self.group is not None:
            self.group.forget()  # the group keeps answers per change: this step's only
        return judge(policy, facts, rules=self.rules)


def findings(step: Step, decision: Decision, facts: Facts, rules: dict[str, Matcher | None]) -> list[Found]:
    """The outcomes of a step that denied or warned, each with the commits and paths it names.

    An outcome about paths names the commits of the rule's walk that add or change one of
    them; an outcome without paths (a ref update rule, missing approvals) names the step's
    new commit.
    """
    found = []
    for o in decision.outcomes:
        if o.status not in ("fail", "error", "warn"):
            continue
        commits: dict[str, None] = {}
        if o.paths:
            wanted = set(o.paths)
            matcher = rules.get(o.rule)
            for update in facts.updates:
                if update.kind == "deletion" or (matcher is not None and not matcher.match(update.ref)):
                    continue
                try:
                    changes = facts.changes_for(update, matcher)
                except Exception:  # noqa: BLE001 - naming commits is a courtesy; the outcome stands without it
                    continue
                for path, occurrences in changes.items():
                    if path.decode("utf-8", "backslashreplace") in wanted:
                        commits.update((c.oid, None) for c, status in occurrences if status != "D")
        if not commits:
            commits[step.new] = None
        found.append(Found(step, o.rule, o.status, o.denies, o.message, o.seen, o.required, o.fix,
                           tuple(commits), o.paths))
    return found


def audit_log(git: Git) -> str | None:
    """The repository's changegate audit log (written by the hook), if it has one."""
    import os

    from engine.prereceive import AUDIT

    path = os.path.join(git.git_dir, AUDIT)
    return path if os.path.isfile(path) else None


class Recorded(NamedTuple):
    steps: list[Step]  # the recorded pushes to judge, oldest first
    unreadable: int  # lines that are not a decision record (a hook error record, a damaged line)


def read_audit(path: str, refs: Sequence[str], *, since: float | None) -> Recorded:
    """The pushes the hook recorded (stage push), each with its ref updates, pusher and time; with
    `refs`, only pushes that update one of them; with `since`, only those at or after it."""
    import json

    from engine.times import parse_rfc3339

    wanted = {name.encode("utf-8", "surrogateescape") for name in refs}
    steps, unreadable = [], 0
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
                at = parse_rfc3339(entry["time"])
                updates = tuple(RefUpdate(u["old"], u["new"], u["ref"].encode("utf-8", "surrogateescape"))
                                for u in entry["updates"])
                actor = Actor(**entry["actor"])
            except (ValueError, KeyError, TypeError):
                unreadable += 1
                continue
            if at is None or not updates:
                unreadable += 1
                continue
            if entry.get("stage", "push") != "push" or (since is not None and at < since):
                continue
            if wanted and not any(u.ref in wanted for u in updates):
                continue
            first = updates[0]
            steps.append(Step(first.ref, first.old, first.new, at, updates[1:], actor, bool(entry.get("allowed"))))
    return Recorded(steps, unreadable)


class AuditReplay(_Replayer):
    """Judges recorded pushes one by one, each read from git as the hook read it (GitFacts): the
    server held the refs the log shows before that push (the values accepted pushes left;
    a ref's first recorded update tells its old value). Pushes the hook rejected are judged
    too while their objects exist; a rejected push's objects are usually gone (git drops a
    rejected push's quarantine), and such a push is counted as not judgeable."""

    def __init__(self, git: Git, steps: list[Step], plan: Plan, *, stage: Stage, actor: Actor | None,
                 source: Any, environ: dict[str, str] | None = None) -> None:
        super().__init__(git, plan, stage=stage, source=source, environ=environ)
        self.steps = steps
        self.actor = actor
        self.missing: list[Step] = []  # pushes whose objects are gone

    def run(self, progress: Callable[[int], None] | None = None) -> Iterator[tuple[Step, Decision, Facts]]:
        from engine.change import is_zero
        from engine.facts.gitfacts import GitFacts

        value: dict[bytes, str] = {}
        for step in self.steps:
            updates = (RefUpdate(step.old, step.new, step.ref), *step.more)
            for u in updates:
                if not is_zero(u.old):
                    value.setdefault(u.ref, u.old)
            news = [u.new for u in updates if not is_zero(u.new)]
            if any(found is None for found in self.git.objects(news)):
                self.missing.append(step)
            else:
                who = self.actor or step.actor or UNKNOWN_PUSHER
                facts = GitFacts(self.git, Change(updates, who, self.stage),
                                 server_refs=[(r, v) for r, v in value.items() if not is_zero(v)],
                                 server_label="the refs the audit log shows before this push",
                                 inputs=Inputs(now=step.time, environ=self.environ), policy=self.plan.policy,
                                 source=self.source)
                decision = self.built.judge(self.plan.policy, facts)
                yield step, decision, facts
            if step.accepted:  # the server's refs moved only if the hook let the push in
                value.update((u.ref, u.new) for u in updates)
            if progress is not None:
                progress(1)
