"""People and their identities: who pushed, authored or committed a change, and who signs as whom.

A git server names the pusher by user name (GL_USER=bob), a commit names its author by
address (bob@home.example), a signed approval names its approver by principal
(bob@example.com). Nothing ties them together but the administrator's mapping: the
file the policy names as `trust.identities`, read from the policy's trust domain (the
protected ref, or beside the administrator's policy file), never from the change::

    version: 1
    people:
      bob:
        users: [bob]                                  # server user names
        emails: [bob@example.com, bob@home.example]   # commit author/committer addresses
        names: [Bob Builder]                          # commit author/committer names
        principals: [bob@example.com]                 # allowed_signers principals

The mapping is used on the deny side only (exclude_author: an approval by one of the
change's own people does not count), so identifiers match as loosely as is safe:
Unicode NFKC-normalised, case-folded, surrounding spaces ignored. Allows
(`except.actors`) never go through it: they match the server user name exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.policy import PolicyError, Problem

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, NamedTuple
else:
    from engine.lighttuple import NamedTuple

# An identities file is parsed on the push path (once per version: the result is cached).
# Reading and validating 256 KiB (some 2,000 people) takes ~0.8 s on a 2-core server, which
# keeps a cold parse well inside the hook's time budget.
MAX_BYTES = 256 * 1024
FIELDS = ("users", "emails", "names", "principals")
CACHE_FORMAT = 1


def normalise(text: str) -> str:
    """The form identifiers are compared in: NFKC, case-folded (then NFKC again, as casefold
    can denormalise), without surrounding spaces. `Bob@Example.com`, `ｂｏｂ@example.com` and
    ` bob@example.com` are the same identity."""
    import unicodedata

    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold()).strip()


@dataclass(frozen=True)
class Person:
    id: str
    users: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    principals: tuple[str, ...] = ()


class IdentitiesError(PolicyError):
    """The identities file cannot be used; every problem is listed with file:line:col."""


class Identities:
    """The administrator's mapping, indexed by normalised identifier."""

    def __init__(self, people: Sequence[Person], source: str) -> None:
        self.people = tuple(people)
        self.source = source
        self._index: dict[tuple[str, str], list[Person]] = {}
        for person in self.people:
            for field in FIELDS:
                for value in getattr(person, field):
                    found = self._index.setdefault((field, normalise(value)), [])
                    if person not in found:
                        found.append(person)

    def lookup(self, value: str, *fields: str) -> list[Person]:
        """The people `value` names in any of `fields` (default: every field)."""
        key = normalise(value)
        found: list[Person] = []
        for field in fields or FIELDS:
            found += [p for p in self._index.get((field, key), []) if p not in found]
        return found


def load_schema() -> dict[str, Any]:
    import json

    from engine.resources import resource

    with open(resource("policies", "schema", "identities.schema.json"), encoding="utf-8") as f:
        schema: dict[str, Any] = json.load(f)
    return schema


def parse_identities(data: bytes, source: str) -> Identities:
    """Parse and validate an identities file; IdentitiesError lists every problem, located."""
    if len(data) > MAX_BYTES:
        raise IdentitiesError([Problem(source, 0, 0, f"the identities file is larger than {MAX_BYTES} bytes "
                                                     "(256 KiB), the most changegate reads")])
    from engine.policy.load import parse_yaml, schema_problems

    try:
        root = parse_yaml(data, source)
    except PolicyError as exc:
        raise IdentitiesError(exc.problems) from None
    if root.data is None:
        raise IdentitiesError([Problem(source, 1, 1, "the identities file is empty; it needs 'version: 1' "
                                                     "and 'people:'")])
    document = root.data
    problems = schema_problems(root, document, source, schema=load_schema())
    if problems:
        raise IdentitiesError(problems)
    return Identities([Person(pid, *(tuple(entry.get(f, ())) for f in FIELDS))
                       for pid, entry in document["people"].items()], source)


def load(data: bytes, source: str, cache_dir: str | None) -> Identities:
    """parse_identities, cached in `cache_dir` by the sha256 of the exact bytes (YAML parsing and
    schema validation cost from ~150 ms to ~2 s a push). A cache entry that is not exactly what this code
    writes is ignored and rebuilt."""
    import hashlib
    import json
    import os

    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(cache_dir, f"identities-{digest}.json") if cache_dir else None
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                cached = _from_cache(json.load(f), digest, source)
            if cached is not None:
                return cached
        except (OSError, ValueError):
            pass
    identities = parse_identities(data, source)
    if path and cache_dir:
        _write_atomically(cache_dir, path, json.dumps({
            "format": CACHE_FORMAT, "sha256": digest,
            "people": [[p.id, *(list(getattr(p, f)) for f in FIELDS)] for p in identities.people]}))
    return identities


def _from_cache(entry: object, digest: str, source: str) -> Identities | None:
    if not (isinstance(entry, dict) and entry.get("format") == CACHE_FORMAT and entry.get("sha256") == digest
            and isinstance(entry.get("people"), list)):
        return None
    people = []
    for row in entry["people"]:
        if not (isinstance(row, list) and len(row) == 1 + len(FIELDS) and isinstance(row[0], str)
                and all(isinstance(v, list) and all(isinstance(x, str) for x in v) for v in row[1:])):
            return None
        people.append(Person(row[0], *(tuple(v) for v in row[1:])))
    return Identities(people, source)


def _write_atomically(directory: str, path: str, text: str) -> None:
    import os
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        pass  # a cache we cannot write only costs time


# --- whose change is it ------------------------------------------------------------------


class Identity(NamedTuple):
    """One way a change names someone it belongs to."""

    kind: str  # "user" (server user name or login) | "email" | "name"
    value: str
    role: str  # for people: "the pusher's user name (gitolite GL_USER)", "the author e-mail of commit 1a2b3c4d5e"


_FIELD = {"user": "users", "email": "emails", "name": "names"}


class Owners:
    """Who a change belongs to (its pusher, the authors and committers of its commits, a pull
    request's author), mapped to people; decides whether an approver is one of them."""

    def __init__(self, owned: Sequence[Identity], identities: Identities | None, *, pusher: str | None) -> None:
        self.identities = identities
        self.pusher = pusher
        self._direct: dict[str, Identity] = {}
        self._people: dict[str, tuple[Person, Identity]] = {}
        for identity in owned:
            if not identity.value.strip():
                continue
            self._direct.setdefault(normalise(identity.value), identity)
            for person in identities.lookup(identity.value, _FIELD[identity.kind]) if identities else []:
                self._people.setdefault(person.id, (person, identity))
        mapped = bool(pusher and identities and identities.lookup(pusher, "users"))
        self._fallback = normalise(pusher) if pusher and not mapped else None

    def person_of(self, who: str) -> tuple[str, str]:
        """Who `who` is, for counting each person's approval once: (key, how we know it is the same)."""
        people = self.identities.lookup(who) if self.identities is not None else []
        if people:
            assert self.identities is not None
            return f"person:{people[0].id}", f"{self.identities.source} maps it to the same person, {people[0].id},"
        return f"identity:{normalise(who)}", "it is the same identity (ignoring case and Unicode form)"

    def match(self, who: str) -> str | None:
        """Why `who` (a principal, or a login) is one of the change's own people; None if not."""
        if self.identities is not None:
            for person in self.identities.lookup(who):
                if person.id in self._people:
                    _, by = self._people[person.id]
                    return (f"{self.identities.source} maps {who} and {by.role} '{by.value}' to the same person, "
                            f"{person.id}")
        same = self._direct.get(normalise(who))
        if same is not None:
            return f"it is {same.role} '{same.value}'" if same.value != who else f"it is {same.role}"
        local, at, _ = who.rpartition("@")
        if self._fallback and at and normalise(local) == self._fallback:
            where = f"has no entry in {self.identities.source}" if self.identities else \
                "cannot be mapped (the policy has no trust.identities)"
            return (f"matched by the fallback: its local part '{local}' equals the pusher's user name "
                    f"'{self.pusher}', who {where}; add the pusher there with users: [{self.pusher}] and the "
                    "principals they sign with, to match exactly")
        return None


# --- policy validate ------------------------------------------------------------------------


def unmapped_warnings(policy: dict[str, Any]) -> list[tuple[int, str]]:
    """(line, warning) for each approvals rule that excludes authors and accepts signed records
    while the policy names no trust.identities: pushers then cannot be mapped to signers."""
    trust = policy.get("trust") or {}
    if not trust.get("allowed_signers") or trust.get("identities"):
        return []
    found = []
    for rule in policy.get("rules", []):
        params = rule.get("params", {})
        if rule.get("kind") != "require.approvals" or not params.get("exclude_author", True):
            continue
        eligible = params.get("from") or {}
        if eligible and not (eligible.get("signers") or eligible.get("users")):
            continue  # teams only: signed records cannot satisfy it
        found.append((rule.get("line", 0), (
            f"rule {rule['id']!r} excludes the change's own people from approving (exclude_author) and "
            "accepts signed approvals, but the policy has no trust.identities: a pusher's server user name "
            "(e.g. GL_USER=bob) cannot be mapped to the principal they sign with (e.g. bob@example.com), so only "
            "a principal whose local part equals the user name is caught; add trust: {identities: PATH} "
            "(see docs/approvals.md)")))
    return found
