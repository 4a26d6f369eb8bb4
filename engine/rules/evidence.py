"""`require: {evidence: {type: dry-run, result, max_age, signers, env, paths}}`.

Satisfied, for every updated ref, only by dry-run evidence whose subject is the tree the
ref would point at (or, with `paths`, a tree whose listed subtrees are identical), signed
by a key the policy's trust.allowed_signers lists (for one of `signers`, when given), no
older than `max_age`, with the required result and environment. At stage deploy, every
--artifact must also match an artifact digest that accepted evidence records.

Updates of notes refs (refs/notes/...) are not judged: pushing evidence must not itself
need evidence. Deletions are not judged either: they bring no tree.
"""

from __future__ import annotations

from engine.change import RefUpdate, show
from engine.decision import Outcome
from engine.evidence import PREDICATE_DRY_RUN, Accepted, Rejected, artifact_digest, recorded_artifacts
from engine.facts.evidence import find_evidence
from engine.facts.interface import TrustError
from engine.notes import NOTES_REFS
from engine.rules.base import Rule, short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Literal, NamedTuple

    from engine.facts.interface import Facts
else:
    from engine.lighttuple import NamedTuple

NEARBY_COMMITS = 50  # pushed commits whose trees are searched for misplaced evidence, to explain a miss


class EvidenceParams(NamedTuple):
    type: Literal["dry-run"]
    result: Literal["passed", "failed"] = "passed"
    max_age: str | None = None  # a duration
    signers: str | tuple[str, ...] | None = None
    env: str | None = None
    paths: tuple[str, ...] | None = None


class RequireEvidence(Rule):
    kind = "require.evidence"
    Params = EvidenceParams
    params: EvidenceParams
    pattern_fields = ("paths",)

    @classmethod
    def needs_trust(cls, params: EvidenceParams) -> bool:
        return True

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        judged = [u for u in updates if u.kind != "deletion" and not u.ref.startswith(b"refs/notes/")]
        if not judged:
            return self.outcome("skip", "no updated ref brings a tree (only deletions or notes refs)")
        p = self.params
        result, env = p.result, p.env
        max_age = _seconds(p.max_age)
        signers = [p.signers] if isinstance(p.signers, str) else list(p.signers) if p.signers else None
        paths = self.patterns.get("paths")
        required = self._required(result, env, p.max_age, signers, list(p.paths) if p.paths else None, facts)
        seen: list[str] = []
        missing: list[str] = []
        reasons: set[str] = set()
        verdicts: dict[str, tuple[list[Accepted], list[Rejected]]] = {}
        try:
            for u in judged:
                tree = facts.tree(u.new)
                if tree not in verdicts:
                    verdicts[tree] = find_evidence(facts, tree, result=result, env=env, max_age=max_age,
                                                   signers=signers, paths=paths)
                accepted, rejected = verdicts[tree]
                where = f"{u.name} -> commit {short(u.new)} (tree {short(tree)})"
                if accepted:
                    seen += [f"{where}: accepted {a.source}: {show(_summary(a, facts.now))}" for a in accepted[:3]]
                    continue
                missing.append(u.name)
                if paths is None:
                    rejected = rejected + self._misplaced(facts, u, tree)
                if not rejected:
                    seen.append(f"{where}: no evidence found: no note on the tree in "
                                f"{NOTES_REFS['evidence']}" + ("" if facts.inputs.evidence_files
                                                               else " and no --evidence file"))
                    reasons.add("none")
                    continue
                seen.append(f"{where}: {len(rejected)} candidate(s), none accepted:")
                for r in rejected:
                    seen.append(f"  {show(r.source)}: {r.reason}: {show(r.detail)}")  # signed, still not ours
                    reasons.add(r.reason)
        except TrustError as exc:
            return self.outcome("error", f"evidence cannot be verified: {exc}", required=required,
                                fix="an administrator must provide the allowed_signers file the policy's "
                                    "trust.allowed_signers names (on the protected ref, or beside the policy file)")
        if missing:
            what = "pushed" if facts.stage == "push" else "judged"
            return self.outcome(
                "fail", f"no acceptable dry-run evidence for the {what} tree of {', '.join(missing)}",
                seen=seen, required=required, fix=_fix(reasons, env))
        if facts.stage == "deploy" and facts.inputs.artifacts:
            return self._deploy(facts, [a for acc, _ in verdicts.values() for a in acc], seen, required)
        return self.outcome("pass", f"dry-run evidence accepted for {len(judged)} ref update(s)", seen=seen,
                            required=required)

    def _deploy(self, facts: Facts, accepted: list[Accepted], seen: list[str], required: str) -> Outcome:
        """Every deployed artifact must be one the accepted evidence recorded (model checksums)."""
        recorded = recorded_artifacts(accepted)
        bad: list[str] = []
        for path in facts.inputs.artifacts:
            sha256, lfs = artifact_digest(path)
            label = f"artifact {path} sha256:{sha256[:16]}" + (" (LFS pointer oid)" if lfs else "")
            if sha256 in recorded:
                seen.append(f"{label} matches {recorded[sha256][0]}")
            else:
                bad.append(path)
                seen.append(f"{label} matches no artifact digest in the accepted evidence")
        if not bad:
            return self.outcome("pass", f"dry-run evidence accepted and {len(facts.inputs.artifacts)} "
                                        "artifact(s) match its digests", seen=seen, required=required)
        listed = [f"evidence records {names[0]} sha256:{sha[:16]}" for sha, names in recorded.items()]
        return self.outcome(
            "fail", f"{len(bad)} deployed artifact(s) differ from every artifact the dry run used: {', '.join(bad)}",
            seen=seen + (listed or ["the accepted evidence records no artifact digests"]),
            required=required + "; at deploy, each artifact's sha256 (an LFS pointer's oid) is one the "
                                "accepted evidence records",
            fix="deploy exactly the artifact that was dry-run, or dry-run this artifact: "
                "policy dry-run --artifact PATH ... and attach the new evidence")

    def _misplaced(self, facts: Facts, update: RefUpdate, tree: str) -> list[Rejected]:
        """Evidence notes on nearby trees (the old tip, the pushed commits): named so a user sees
        that evidence exists but binds another tree (e.g. the commit was amended after the dry run)."""
        noted = set(facts.noted_objects("evidence"))
        if not noted:
            return []
        nearby: dict[str, str] = {}
        for c in reversed(facts.commits_for(update, self.refs)[:NEARBY_COMMITS]):
            nearby.setdefault(c.tree, f"commit {short(c.oid)}")
        if update.kind == "update":
            nearby.setdefault(facts.tree(update.old), f"the old tip {short(update.old)}")
        return [Rejected(f"note on tree {t[:12]}", "wrong-tree",
                         f"it annotates the tree of {what}, not the {facts.stage}ed tree {tree[:12]}: "
                         "evidence binds to one exact tree")
                for t, what in nearby.items() if t != tree and t in noted]

    def _required(self, result: str, env: str | None, max_age: str | None, signers: list[str] | None,
                  paths: list[str] | None, facts: Facts) -> str:
        subject = ("the judged tree" if paths is None
                   else f"the judged tree, or a tree with identical {', '.join(paths)}")
        parts = [f"signed dry-run evidence ({PREDICATE_DRY_RUN}) for {subject}", f"result {result}"]
        if env:
            parts.append(f"environment {env!r}")
        if signers:
            parts.append(f"signed by {' or '.join(signers)}")
        source = (facts.policy.get("trust") or {}).get("allowed_signers")
        if source:
            parts.append(f"with a key listed in {source}")
        if max_age:
            parts.append(f"at most {max_age} old")
        return ", ".join(parts)


def _seconds(max_age: str | None) -> float | None:
    from engine.times import parse_duration

    return parse_duration(max_age) if max_age else None


def _summary(a: Accepted, now: float) -> str:
    p = a.predicate
    from engine.times import format_age, parse_rfc3339

    finished = parse_rfc3339(p.get("finishedOn"))
    age = f", finished {format_age(now - finished)} ago" if finished is not None else ""
    env = f" in {p['env']}" if "env" in p else ""
    who = f", signed by {', '.join(a.signers)}" if a.signers else ""
    return f"{p.get('result')}{env}{who}{age}"


_FIXES = {
    "none": "run the dry run on the exact commit being pushed and attach its evidence: "
            "policy dry-run --key KEY --env ENV --attach -- CMD...; then push the note with the branch: "
            "git push origin HEAD refs/notes/changegate/evidence",
    "wrong-tree": "evidence binds to one exact tree: re-run the dry run on the commit being pushed "
                  "(an amend, or a rebase onto a moved branch, makes a new tree)",
    "expired": "re-run the dry run: the evidence is older than max_age",
    "future": "the signer's clock is ahead: fix it and re-run the dry run",
    "failed-result": "fix what made the dry run fail, then run it again",
    "wrong-env": "run the dry run in the required environment (--env)",
    "unknown-key": "sign with a key listed in the policy's allowed_signers, or ask an administrator to add yours",
    "wrong-signer": "the evidence must be signed by one of the required signers (e.g. the CI dry-run key)",
    "bad-signature": "the envelope was altered after signing: produce it again with policy dry-run",
    "malformed": "produce the evidence with policy dry-run or policy evidence create",
}


def _fix(reasons: set[str], env: str | None) -> str:
    fixes = [_FIXES["none"]] + [_FIXES[r] for r in _FIXES if r in reasons and r != "none"]
    text = "; ".join(dict.fromkeys(fixes))
    return text.replace("--env ENV", f"--env {env}") if env else text.replace(" --env ENV", "")
