"""`policy dry-run`: what it runs, what it writes, and that other DSSE and in-toto
implementations read its evidence (securesystemslib, in-toto-attestation)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from google.protobuf import json_format
from in_toto_attestation.v1 import statement as ita_statement
from in_toto_attestation.v1 import statement_pb2
from securesystemslib import dsse as sslib_dsse
from securesystemslib.signer import SSlibKey

from engine.evidence import PREDICATE_DRY_RUN
from engine.times import parse_rfc3339 as parse_time
from tests.evidence.evidence_support import decode, dry_run, protected, tree
from tests.helpers.attest import KeyPair
from tests.helpers.repos import Clone


def run(tmp_path: Path, clone: Clone, key: KeyPair, *args: str,
        cmd: tuple[str, ...] = ("true",)) -> tuple[int, str, bytes]:
    """(exit status, stdout, envelope) of a dry run writing its evidence to tmp_path/evidence.json."""
    output = tmp_path / "evidence.json"
    ran = dry_run(clone, key, "-o", str(output), *args, cmd=cmd, attach=False)
    return ran.returncode, ran.stdout, output.read_bytes().strip()


def test_envelope_verifies_with_securesystemslib_dsse(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    _, _, envelope = run(tmp_path, clone, ci, "--env", "staging")
    parsed = sslib_dsse.Envelope.from_dict(json.loads(envelope))
    key = SSlibKey(ci.fingerprint, "ed25519", "ed25519", {"public": ci.public.ed25519_raw.hex()})
    assert list(parsed.verify([key], 1)) == [ci.fingerprint]
    assert parsed.payload_type == "application/vnd.in-toto+json"


def test_statement_validates_with_the_in_toto_v1_bindings_and_binds_heads_tree(
        tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    _, _, envelope = run(tmp_path, clone, ci)
    _, statement = decode(envelope)
    pb = json_format.Parse(json.dumps(statement), statement_pb2.Statement())
    ita_statement.Statement.copy_from_pb(pb).validate()  # raises on any spec violation
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == PREDICATE_DRY_RUN
    assert statement["subject"] == [{"name": "git-tree", "digest": {"gitTree": tree(clone)}}]
    assert statement["predicate"]["commit"] == clone.head()


def test_predicate_records_the_run_its_log_metrics_and_artifacts(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    metrics, weights = tmp_path / "metrics.json", tmp_path / "weights.bin"
    weights.write_bytes(b"\x00" * 4096)
    script = f"echo loading model; echo warning >&2; echo '{{\"latency_p95_ms\": 812}}' > {metrics}"
    code, stdout, envelope = run(tmp_path, clone, ci, "--env", "staging", "--metrics", str(metrics),
                                 "--artifact", str(weights), cmd=("sh", "-c", script))
    assert code == 0
    predicate = decode(envelope)[1]["predicate"]
    assert predicate["command"] == ["sh", "-c", script]
    assert (predicate["env"], predicate["exitCode"], predicate["result"]) == ("staging", 0, "passed")
    started, finished = parse_time(predicate["startedOn"]), parse_time(predicate["finishedOn"])
    assert started is not None and finished is not None and started <= finished
    assert predicate["durationSeconds"] >= 0
    assert predicate["metrics"] == {"latency_p95_ms": 812}  # read after the command wrote it
    assert predicate["artifacts"] == [{"name": str(weights), "digest": {"sha256": hashlib.sha256(b"\x00" * 4096)
                                                                      .hexdigest()}, "lfsPointer": False}]
    log = (tmp_path / "evidence.log").read_bytes()
    assert b"loading model" in log and b"warning" in log
    assert predicate["log"]["digest"]["sha256"] == hashlib.sha256(log).hexdigest()
    assert predicate["log"]["size"] == len(log)
    assert "loading model" in stdout  # streamed to the user as well


def test_exit_status_is_the_commands_and_a_failure_is_recorded_as_failed(
        tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    code, _, envelope = run(tmp_path, clone, ci, cmd=("sh", "-c", "exit 7"))
    assert code == 7
    assert decode(envelope)[1]["predicate"]["result"] == "failed"
    assert decode(envelope)[1]["predicate"]["exitCode"] == 7


def test_a_command_that_cannot_start_exits_127_with_failed_evidence(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    code, _, envelope = run(tmp_path, clone, ci, cmd=("no-such-dry-run-tool",))
    assert code == 127
    assert decode(envelope)[1]["predicate"]["result"] == "failed"


def test_uncommitted_changes_are_refused_because_evidence_binds_heads_tree(
        tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    clone.write("README.md", "edited, not committed\n")
    marker = tmp_path / "ran"
    ran = dry_run(clone, ci, cmd=("touch", str(marker)))
    assert ran.returncode == 2
    assert "uncommitted changes" in ran.stderr
    assert not marker.exists()


def test_an_unusable_key_is_refused_before_the_command_runs(tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    not_a_key = tmp_path / "key"
    not_a_key.write_text("not a key\n")
    marker = tmp_path / "ran"
    ran = dry_run(clone, KeyPair(not_a_key, ci.public_line, ci.fingerprint), cmd=("touch", str(marker)))
    assert ran.returncode == 2
    assert "is not an OpenSSH private key" in ran.stderr
    assert not marker.exists()


def test_an_lfs_pointer_artifact_records_the_oid_of_the_content_it_stands_for(
        tmp_path: Path, ci: KeyPair, dev: KeyPair) -> None:
    _, clone = protected(tmp_path, ci, dev)
    content = b"real weights\n" * 100
    oid = hashlib.sha256(content).hexdigest()
    pointer = tmp_path / "model.safetensors"
    pointer.write_text(f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {len(content)}\n")
    _, _, envelope = run(tmp_path, clone, ci, "--artifact", str(pointer))
    assert decode(envelope)[1]["predicate"]["artifacts"] == [
        {"name": str(pointer), "digest": {"sha256": oid}, "lfsPointer": True}]
