"""The built-in rule `changegate-records`: changegate's notes refs only grow.

Approvals, vetoes (requests for changes) and dry-run evidence are lines of git notes
under refs/notes/changegate/. If a push could delete, rewind or rewrite those refs,
anyone who can push could make a veto or a failed dry run disappear. So every change
that updates such a ref is judged by this rule, whatever the policy says (it is not
part of the policy, cannot be exempted or set to evaluate mode):

* creating the ref is allowed (it holds nothing yet);
* deleting it is denied;
* an update must be a fast-forward to a notes commit;
* after the update, every object that had a note still has every line of it
  (compared by annotated object, so re-fanning out the notes tree is fine).

Why grow-only rather than reading records from the whole history of the ref: the
current tree stays the single source of records (cheap to read, and what `git notes`
shows everyone), a rejected push explains itself at once, and legitimate flows
(`policy approve`, concurrent approvers reconciled with `git notes merge`) are
fast-forwards that keep every line anyway. An administrator who must remove a record
edits the ref on the server (`git update-ref`), where hooks do not run.
"""

from __future__ import annotations

from engine import notes
from engine.change import STAGES, RefUpdate, is_zero, show
from engine.decision import Outcome
from engine.rules.base import Rule, short

TYPE_CHECKING = False
if TYPE_CHECKING:
    from engine.facts.interface import Facts

RULE_ID = "changegate-records"
SHOWN_LOSSES = 5


class RecordsOnlyGrow(Rule):
    kind = "builtin.records"  # not a policy key: always judged, never written in a policy
    Params = dict

    @classmethod
    def builtin(cls) -> RecordsOnlyGrow:
        return cls({"id": RULE_ID, "line": 0, "on": list(STAGES), "refs": None, "when_paths": None,
                    "except_actors": [], "enforcement": "enforce", "message": "", "params": {}, "patterns": {}})

    def evaluate(self, facts: Facts, updates: list[RefUpdate]) -> Outcome:
        judged = [u for u in updates if notes.only_grows(u.ref)]
        if not judged:
            return self.outcome("skip", "no changegate notes ref is updated")
        seen: list[str] = []
        problems: list[str] = []
        fixes: dict[str, None] = {}
        types = facts.object_types([oid for u in judged for oid in (u.old, u.new) if not is_zero(oid)])
        for update in judged:
            ref = update.name
            if update.kind == "deletion":
                problems.append(f"{ref}: deleting it would remove every record it holds")
                fixes[_FIX_DELETE] = None
                continue
            if types.get(update.new) != "commit":
                problems.append(f"{ref}: the new value {short(update.new)} is a {types.get(update.new)}, "
                                "not a notes commit")
                fixes[_FIX_OBJECT] = None
                continue
            if update.kind == "creation":
                seen.append(f"{ref}: created at {short(update.new)} (a new notes ref holds no earlier records)")
                continue
            if types.get(update.old) != "commit":
                problems.append(f"{ref}: its current value {short(update.old)} is a {types.get(update.old)}, "
                                "not a notes commit, so no update can be shown to keep its records")
                fixes[_FIX_ADMIN] = None
                continue
            if update.old != update.new and not facts.is_fast_forward(update):
                problems.append(f"{ref}: {short(update.old)} -> {short(update.new)} is not a fast-forward: "
                                "records the server accepted would disappear with the history")
                fixes[_fix_merge(update)] = None
                continue
            losses = facts.lost_records(update)
            if losses:
                lines = sum(len(loss.lost) for loss in losses)
                problems.append(f"{ref}: {lines} record line(s) would disappear from the notes of "
                                f"{len(losses)} object(s)")
                seen += [f"{ref}: the note on {loss.object_id[:12]} loses {len(loss.lost)} of its {loss.before} "
                         f"line(s): {_describe(loss.lost[0])}" for loss in losses[:SHOWN_LOSSES]]
                if len(losses) > SHOWN_LOSSES:
                    seen.append(f"{ref}: ... and {len(losses) - SHOWN_LOSSES} more object(s) lose lines")
                fixes[_fix_merge(update)] = None
                continue
            seen.append(f"{ref}: fast-forward {short(update.old)} -> {short(update.new)} keeps every record")
        if not problems:
            return self.outcome("pass", f"changegate's records only grow ({len(judged)} notes ref update(s))",
                                seen=seen, required=_REQUIRED)
        return self.outcome("fail", "records the server accepted cannot be removed: " + "; ".join(problems),
                            seen=seen, required=_REQUIRED, fix="; ".join([*fixes, _FIX_ADMIN_NOTE]))


_REQUIRED = ("changegate's notes refs (refs/notes/changegate/*) only grow: no deletion, only fast-forward "
             "updates to a notes commit, and every line of every existing note kept on the same object")
_FIX_DELETE = "do not delete the notes ref"
_FIX_OBJECT = "push a notes commit made by git notes (policy approve, policy evidence attach)"
_FIX_ADMIN = "an administrator must repair the ref on the server"
_FIX_ADMIN_NOTE = ("to remove a record on purpose, an administrator edits the ref on the server "
                   "(git update-ref; hooks do not run there)")


def _fix_merge(update: RefUpdate) -> str:
    ref = update.name
    short_ref = ref.removeprefix("refs/notes/")
    return (f"add records on top of the server's: git fetch origin {ref}:{ref}-remote && "
            f"git notes --ref={short_ref} merge -s cat_sort_uniq {ref}-remote; then push {ref} again")


def _describe(line: bytes) -> str:
    """What a record line claims about itself, unverified, for people (an envelope's JSON is opaque)."""
    import hashlib

    digest = hashlib.sha256(line).hexdigest()[:12]
    claims = _claims(line)
    return f"a record ({claims}; sha256 {digest})" if claims else f"a line (sha256 {digest})"


def _claims(line: bytes) -> str:
    import base64
    import binascii
    import json

    try:
        envelope = json.loads(line)
        statement = json.loads(base64.b64decode(envelope["payload"], validate=True))
        predicate = statement["predicate"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        return ""
    if not isinstance(predicate, dict):
        return ""
    parts = [f"{key} {predicate[key]}" for key in ("approver", "decision", "result", "env")
             if isinstance(predicate.get(key), str)]
    return show(", ".join(parts)[:160])
