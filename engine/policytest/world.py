"""A described case as `MemoryFacts`: commits with their trees and blobs, the refs before the
change, signed records, metric values and working files.

Object ids are made up (a blob with content gets git's own blob id; other objects get a
hash of what they are), since only their identity matters to the rules. Approvals and
evidence are real signed records: a key made for the run signs them and an allowed_signers
list naming the approvers and signers trusts it, so the rules verify them exactly as they
verify records on a server. That list stands in for the policy's trust file only when the
policy names one (trust.allowed_signers); without one the rules see no trust at all, as on
a server.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from engine.change import (
    Actor,
    BypassRequest,
    Change,
    ChangedPath,
    Commit,
    CommitDetails,
    Inputs,
    RefUpdate,
    Signature,
)
from engine.facts.memory import MemoryFacts
from engine.policytest.spec import DEFAULT_PERSON, Case, _status

TYPE_CHECKING = False
if TYPE_CHECKING:
    from engine.attest import AllowedSigners
    from engine.identities import Identities

ZERO = "0" * 40
DELETED_MODE = "000000"


def oid(kind: str, text: str) -> str:
    return hashlib.sha1(f"{kind} {text}".encode()).hexdigest()


def blob_id(data: bytes) -> str:
    """git's own id of a blob with these bytes."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _person(text: str) -> tuple[str, str]:
    name, _, rest = text.partition("<")
    return name.strip(), rest.rstrip(">").strip()


def _moment(value: str | float) -> float:
    from engine.times import parse_moment

    return float(value) if not isinstance(value, str) else parse_moment(value)


class World:
    """Everything a case describes, as the data MemoryFacts holds."""

    def __init__(self, case: Case) -> None:
        from engine.rules.max_file_size import parse_size

        data = case.data
        self.case = case
        self.now = _moment(data["now"])
        self.labels: dict[str, str] = {}  # commit label -> commit id
        self.commits: list[Commit] = []
        self.details: dict[str, CommitDetails] = {}  # message and signature, as verification would find them
        self.trees: dict[str, dict[bytes, str]] = {}
        self.blobs: dict[str, bytes] = {}
        self.sizes: dict[str, int] = {}
        states: dict[str, dict[bytes, str]] = {}
        for position, spec in enumerate(data["commits"]):
            label = spec["id"]
            parents = spec.get("parents")
            if parents is None:
                parents = [data["commits"][position - 1]["id"]] if position else []
            state = dict(states[parents[0]]) if parents else {}
            changed = []
            for name, file in sorted((spec.get("files") or {}).items()):
                path = name.encode("utf-8", "surrogateescape")
                status = _status(file, path in state)
                if status == "D":
                    del state[path]
                    changed.append(ChangedPath(path, "D", ZERO, DELETED_MODE))
                    continue
                mode = file.get("mode", "100644") if isinstance(file, dict) else "100644"
                if isinstance(file, dict) and "size" in file:
                    size = parse_size(file["size"])
                    blob = oid("sized-blob", f"{label} {name} {size}")
                    self.sizes[blob] = size
                else:
                    content = (file.get("content", "") if isinstance(file, dict) else file).encode()
                    blob = blob_id(content)
                    self.blobs[blob] = content
                state[path] = f"{mode} {blob}"
                changed.append(ChangedPath(path, status, blob, mode))
            tree = oid("tree", json.dumps(sorted((p.decode("utf-8", "surrogateescape"), e) for p, e in state.items())))
            self.trees[tree] = state
            states[label] = state
            commit_id = oid("commit", label)
            self.labels[label] = commit_id
            author = _person(spec.get("author", DEFAULT_PERSON))
            committer = _person(spec.get("committer", spec.get("author", DEFAULT_PERSON)))
            self.commits.append(Commit(commit_id, tree, tuple(self.labels[p] for p in parents), author[0], author[1],
                                       tuple(changed), committer[0], committer[1]))
            signed = spec.get("signature")
            self.details[commit_id] = CommitDetails(spec.get("message", ""), Signature(
                "N") if signed is None else Signature(signed.get("status", "G"), signed.get("format", "ssh"),
                                                       signed.get("signer", ""), signed.get("key", "")))
        self.by_id = {c.oid: c for c in self.commits}
        self.refs = {ref: self.labels[label] for ref, label in (data.get("refs") or {}).items()}
        self.updates = tuple(self._update(u) for u in data["updates"])

    def _update(self, spec: dict[str, Any]) -> RefUpdate:
        ref = spec["ref"]
        old = self.labels[spec["old"]] if spec.get("old") else None
        if "old" not in spec:
            old = self.refs.get(ref)
        new = self.labels[spec["new"]] if spec.get("new") else None
        return RefUpdate(old or ZERO, new or ZERO, ref.encode("utf-8", "surrogateescape"))

    def target(self, item: dict[str, Any]) -> tuple[RefUpdate, str]:
        """The update a record is about and the commit it is on (default: the first update that
        brings a commit, and its new value)."""
        targets = [u for u in self.updates if u.kind != "deletion"]
        update = next((u for u in targets if item.get("ref") is None or u.name == item["ref"]), targets[0]
                      if targets else None)
        commit = self.labels[item["commit"]] if item.get("commit") else update.new if update else ZERO
        return (update or RefUpdate(ZERO, commit, b"")), commit


class Signer:
    """One key, made for the run, listed for every principal the case names."""

    def __init__(self, principals: list[str]) -> None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        from engine.attest import PublicKey, parse_allowed_signers

        self.key = Ed25519PrivateKey.generate()
        self.public = PublicKey.from_ed25519_raw(self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
        names = ",".join(dict.fromkeys(principals)) or "policy-test"
        self.allowed = parse_allowed_signers(f"{names} {self.public.line}\n", source="the test's signers")

    def sign(self, statement: Any) -> bytes:
        from engine.attest import PAYLOAD_TYPE, Envelope, Signature, pae

        payload = statement.to_json()
        signature = Signature(self.public.fingerprint, self.key.sign(pae(PAYLOAD_TYPE, payload)))
        return Envelope(PAYLOAD_TYPE, payload, (signature,)).to_json()


def _notes(world: World, trusted: bool) -> tuple[dict[str, dict[str, list[bytes]]], AllowedSigners | None]:
    """The approvals and evidence notes the case describes, signed; and the allowed signers that
    stand in for the policy's trust file when it names one (`trusted`). No key is made (nor
    cryptography imported) when neither is needed."""
    import datetime as dt

    from engine.approvals import APPROVED, CHANGES_REQUESTED
    from engine.evidence import build_predicate, dry_run_statement
    from engine.records.approvals import approval_statement
    from engine.times import parse_duration

    data = world.case.data
    approvals, evidence = data.get("approvals") or [], data.get("evidence") or []
    if not (approvals or evidence or trusted):
        return {}, None
    signer = Signer([a["by"] for a in approvals] + [e.get("signer", "ci") for e in evidence])
    notes: dict[str, dict[str, list[bytes]]] = {"approvals": {}, "evidence": {}}
    for item in approvals:
        update, commit = world.target(item)
        tree = world.by_id[commit].tree
        when = world.now - parse_duration(item.get("age", "0s"))
        decision = CHANGES_REQUESTED if item.get("decision") == "request_changes" else APPROVED
        statement = approval_statement(tree=tree, commit=commit, ref=item.get("ref") or update.name,
                                       approver=item["by"], comment=item.get("comment", ""), decision=decision,
                                       when=dt.datetime.fromtimestamp(when, dt.UTC))
        notes["approvals"].setdefault(tree, []).append(signer.sign(statement))
    for item in evidence:
        _, commit = world.target(item)
        tree = world.by_id[commit].tree
        finished = world.now - parse_duration(item.get("age", "0s"))
        failed = item.get("result") == "failed"
        predicate = build_predicate(command=["dry-run"], env=item.get("env"), commit=commit,
                                    exit_code=1 if failed else 0, started=finished - 60, finished=finished,
                                    log_sha256="0" * 64, log_size=0, metrics=item.get("metrics"))
        notes["evidence"].setdefault(tree, []).append(signer.sign(dry_run_statement(tree, predicate)))
    return notes, signer.allowed if trusted else None


def trusted_files(policy: dict[str, Any]) -> tuple[dict[str, bytes], Identities | None]:
    """The files of the policy's trust domain its rules read (the identities mapping, alerting
    rules, the allowed signers and GPG keyring of commit signatures, Rego modules), from beside the policy file
    as for an administrator's policy; PolicyError when the identities file it names is missing or
    invalid there (self-approval could not be judged)."""
    from engine.identities import parse_identities
    from engine.policy import PolicyError, Problem

    here = os.path.dirname(os.path.abspath(policy["source"]))
    names = [(policy.get("trust") or {}).get("identities"), (policy.get("trust") or {}).get("allowed_signers")]
    params = [r["params"] for r in policy["rules"] if isinstance(r["params"], dict)]
    names += [p.get(key) for p in params for key in ("rules_file", "gpg_keyring")]
    names += [name for p in params for key in ("modules", "data") for name in p.get(key) or ()]  # rego
    found: dict[str, bytes] = {}
    for name in filter(None, names):
        try:
            with open(os.path.join(here, name), "rb") as f:
                found[name] = f.read()
        except OSError:
            continue
    named = (policy.get("trust") or {}).get("identities")
    if not named:
        return found, None
    where = os.path.join(os.path.dirname(policy["source"]), named)
    if named not in found:
        raise PolicyError([Problem(policy["source"], 0, 0, f"the identities file {where} (trust.identities) does "
                                                           "not exist beside the policy; policy tests read it there")])
    return found, parse_identities(found[named], where)  # IdentitiesError is a PolicyError


@contextmanager
def facts(case: Case, policy: dict[str, Any],
          trust: tuple[dict[str, bytes], Identities | None] = ({}, None)) -> Iterator[MemoryFacts]:
    """MemoryFacts for `case`, judged by `policy` (compiled) with its `trust` files (trusted_files);
    working files live while in use."""
    import tempfile

    from engine.policy.source import PolicySource

    trusted, identities = trust
    world = World(case)
    data = case.data
    notes, allowed = _notes(world, bool(policy.get("trust")))
    bypass = None
    if data.get("bypass") is not None:
        from engine.bypass import VIA_CLI

        bypass = BypassRequest(data["bypass"], VIA_CLI)
    inputs = Inputs(now=world.now, environ={}, bypass=bypass)
    change = Change(world.updates, Actor(data["actor"], "test", "the test case"), data["stage"])
    with tempfile.TemporaryDirectory(prefix="changegate-test-") as workdir:
        for name, content in (data.get("workdir") or {}).items():
            full = os.path.join(workdir, name)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w", encoding="utf-8") as f:
                f.write(content if isinstance(content, str) else json.dumps(content))
        yield MemoryFacts(
            change, known=world.commits, refs=world.refs, trees=world.trees, blobs=world.blobs, sizes=world.sizes,
            notes=notes, allowed_signers=allowed, inputs=inputs, details=world.details,
            trusted_files=trusted, identities=identities, source=PolicySource(b"", policy["source"]),
            policy=policy, history=True, metrics=data.get("metrics") or {}, workdir=workdir)
