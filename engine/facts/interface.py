"""What rules may know about a change: the `Facts` interface, and its errors.

Rules ask named questions (which commits an update brings, the paths they change, the
notes on a tree, a trusted file) and never reach for git, the environment or HTTP clients
themselves. Two implementations answer: `engine.facts.gitfacts.GitFacts` reads a
repository (the hook, `policy check`, the Action); `engine.facts.memory.MemoryFacts` holds
plain data (unit tests, and policy tests without a git server).

Only the type checker imports this module's Protocol; the errors are light and imported by
rules at run time.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Protocol

    from engine.attest import AllowedSigners
    from engine.change import Actor, Change, Commit, CommitDetails, Inputs, RefUpdate, SignatureTrust, Stage
    from engine.decision import Judged
    from engine.facts.approvals import PullFacts
    from engine.facts.content import Blobs
    from engine.facts.mlflow import MlflowClient
    from engine.facts.prometheus import ActiveAlert, QueryResult
    from engine.identities import Identities
    from engine.notes import Loss
    from engine.policy.patterns import Matcher
    from engine.policy.source import PolicySource
    from engine.rego.opa import OpaServer

    class PrometheusAPI(Protocol):
        """What verdicts on live numbers ask a Prometheus server (engine.facts.prometheus answers)."""

        def query(self, query: str, *, at: float) -> QueryResult: ...
        def query_range(self, query: str, *, start: float, end: float, step: float) -> QueryResult: ...
        def alerts(self) -> tuple[ActiveAlert, ...]: ...

    class Facts(Protocol):
        """The questions a rule may ask about the change it judges."""

        @property
        def stage(self) -> Stage: ...
        @property
        def actor(self) -> Actor: ...
        @property
        def updates(self) -> tuple[RefUpdate, ...]: ...
        @property
        def now(self) -> float: ...
        @property
        def inputs(self) -> Inputs: ...
        @property
        def policy(self) -> dict[str, Any]: ...  # the compiled policy: name, sources, trust, blob_refs
        @property
        def source(self) -> PolicySource | None: ...  # where the policy came from (its trust domain)
        @property
        def measurement(self) -> bool: ...  # no change, only the running system (rollback-check)

        # --- commits, paths and objects ---
        def commits_for(self, update: RefUpdate, refs: Matcher | None) -> list[Commit]:
            """The commits `update` brings, as judged by a rule with these `refs` (None: no refs:)."""
        def changes_for(self, update: RefUpdate, refs: Matcher | None) -> dict[bytes, list[tuple[Commit, str]]]:
            """Each path those commits change, with (commit, status) per change, in commit order."""
        def is_fast_forward(self, update: RefUpdate) -> bool: ...
        def tree(self, commit: str) -> str:
            """The tree of a commit (records bind to trees)."""
        def ref(self, name: str) -> str | None:
            """The object a ref names exactly (a full name, never guessed); None if there is none."""
        def object_types(self, oids: Sequence[str]) -> dict[str, str]:
            """The type (commit, tree, blob, tag) of each object that exists."""
        def blob_sizes(self, oids: Sequence[str]) -> dict[str, int]:
            """The size in bytes of each blob that exists (a missing object or a non-blob is absent)."""
        def small_blobs(self, oids: Sequence[str], below: int) -> dict[str, bytes]:
            """The contents of each blob smaller than `below` bytes; larger ones are absent, never read."""
        def blob_contents(self, oids: Sequence[str], *, max_blob: int, max_total: int, head: int = 0) -> Blobs:
            """The contents of each blob of at most `max_blob` bytes, each read once per decision
            (engine.facts.content); larger ones by size only, or their first `head` bytes.
            ContentLimit when the bytes this decision reads would pass `max_total`."""
        def cache_dir(self) -> str | None:
            """The server's administrator-owned cache directory, if there is one (the hook's)."""
        def tree_entries(self, tree: str) -> dict[bytes, str] | None:
            """path -> "mode oid" of every blob in `tree`; None if the tree is not there."""
        def commit_details(self, oids: Sequence[str], trust: SignatureTrust | None = None) -> dict[str, CommitDetails]:
            """The message of each commit that exists and, with `trust`, its signature as git verifies
            it against that trust alone (read only when a rule asks; one git process for many)."""
        def prefetch(self) -> None:
            """A hint that rules will ask for paths: walk everything at once, if that is cheaper."""
        def judged(self) -> list[Judged]:
            """Which commits were judged for each ref update, and on what basis."""

        # --- records (git notes under refs/notes/changegate/) ---
        def notes_on(self, kind: str, object_ids: Sequence[str]) -> dict[str, list[bytes]]:
            """Lines of the notes of `kind` on each object that has one, as this change leaves them."""
        def notes(self, kind: str, object_id: str) -> list[bytes]: ...
        def noted_objects(self, kind: str) -> list[str]:
            """Every object that has a note of `kind`, as this change leaves them."""
        def lost_records(self, update: RefUpdate) -> list[Loss]:
            """Note lines an update of a notes ref would remove, per object."""

        # --- the policy's trust domain (never the change) ---
        def trusted_file(self, path: str) -> bytes | None: ...
        def allowed_signers(self) -> AllowedSigners: ...
        def identities(self) -> Identities | None: ...

        # --- live sources the policy names, and files a CI job produced (engine/facts/live.py) ---
        def trusted_location(self, path: str) -> str:
            """How to name a file of the policy's trust domain in a message."""
        def prometheus(self) -> PrometheusAPI:
            """The client for sources.prometheus; PrometheusError("config") without one."""
        def mlflow(self) -> MlflowClient:
            """A client for sources.mlflow (close it after use); MlflowError without one."""
        def opa(self) -> OpaServer:
            """The OPA server of sources.opa; OpaError("config") without one."""
        def github_approvals(self) -> str | None:
            """Why approvals come from GitHub here (a pull request), or None: signed records."""
        def pull_request(self) -> PullFacts:
            """The pull request judged, read once per decision; its errors kept inside."""
        def working_file(self, path: str) -> str:
            """The absolute path of a file in the working directory (a CI job's output);
            FileNotFoundError (naming that path) if there is none."""
        def working_files(self, pattern: str) -> list[str]:
            """The absolute paths of the files a glob matches in the working directory
            (repeated runs, per-task sample logs), sorted; empty if none."""


class ChangeFacts:
    """What every Facts implementation answers from the Change and Inputs it was given."""

    change: Change
    inputs: Inputs

    @property
    def stage(self) -> Stage:
        return self.change.stage

    @property
    def actor(self) -> Actor:
        return self.change.actor

    @property
    def updates(self) -> tuple[RefUpdate, ...]:
        return self.change.updates

    @property
    def now(self) -> float:
        return self.inputs.now


class TrustError(Exception):
    """The policy's trust file is missing or malformed: signed records cannot be judged."""


class Unjudgeable(Exception):
    """A pushed ref points (directly or through tags) at an object that has no paths to judge."""
