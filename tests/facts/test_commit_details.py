"""Facts.commit_details from git: messages read exactly (any byte), signatures verified by git against
the trust given and nothing else, in one process each, with no process left behind."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from engine.change import Actor, Change, CommitDetails, SignatureTrust
from engine.facts.gitfacts import GitFacts, parse_commit_object
from engine.facts.memory import MemoryFacts
from engine.git import Git
from tests.helpers.repos import git


def facts(path: Path) -> GitFacts:
    return GitFacts(Git(str(path / ".git")), Change((), Actor("ann", "cli", "--actor"), "push"))


def test_messages_are_read_exactly_even_with_a_nul_or_a_forged_record(tmp_path: Path) -> None:
    """A message holding NUL and what looks like another commit's record cannot confuse the reader."""
    git("init", "-q", str(tmp_path), cwd=tmp_path)
    git("commit", "-q", "--allow-empty", "-m", "first", cwd=tmp_path)
    first = git("rev-parse", "HEAD", cwd=tmp_path).out.strip()
    raw = git("cat-file", "commit", first, cwd=tmp_path).out.replace("first", f"a\0{first}\0G\0ann\0key\0b")
    odd = git("hash-object", "-t", "commit", "-w", "--stdin", "--literally", cwd=tmp_path,
              stdin=raw.encode()).out.strip()
    found = facts(tmp_path).commit_details([odd, first, "f" * 40], SignatureTrust())
    assert found[odd].message == f"a\0{first}\0G\0ann\0key\0b\n"
    assert found[first] == CommitDetails("first\n", found[first].signature)
    assert found[odd].signature is not None and found[odd].signature.status == "N"
    assert found[first].signature is not None and found[first].signature.status == "N"
    assert "f" * 40 not in found  # missing: absent, never invented


def test_signature_formats_are_named_from_the_header() -> None:
    head = b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a@x> 1 +0000\ncommitter A <a@x> 1 +0000\n"
    sig = b"gpgsig -----BEGIN SSH SIGNATURE-----\n U1NI\n -----END SSH SIGNATURE-----\n"
    assert parse_commit_object(head + sig + b"\nmsg\n") == ("msg\n", "ssh")
    assert parse_commit_object(head + sig.replace(b"SSH", b"PGP") + b"\nmsg\n") == ("msg\n", "gpg")
    assert parse_commit_object(head + b"gpgsig-sha256 -----BEGIN SIGNED MESSAGE-----\n x\n\nm\n")[1] == "x509"
    assert parse_commit_object(head + b"gpgsig junk\n\nm\n")[1] == "unknown"
    assert parse_commit_object(head + b"\ngpgsig -----BEGIN SSH SIGNATURE-----\n") == (
        "gpgsig -----BEGIN SSH SIGNATURE-----\n", "")  # in the message, not a header: unsigned


def test_verifying_with_a_keyring_leaves_no_process_or_file_behind(tmp_path: Path) -> None:
    home = tmp_path / "signer"
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "",
                    "--quick-gen-key", "Ann <ann@example.com>", "ed25519", "sign", "never"], env=env, check=True,
                   capture_output=True)
    try:
        keyring = subprocess.run(["gpg", "--batch", "--export"], env=env, check=True, capture_output=True).stdout
        git("init", "-q", str(tmp_path / "r"), cwd=tmp_path)
        git("-c", "gpg.format=openpgp", "-c", "user.signingkey=ann@example.com", "commit", "-q", "-S",
            "--allow-empty", "-m", "signed", cwd=tmp_path / "r", env={"GNUPGHOME": str(home)})
        oid = git("rev-parse", "HEAD", cwd=tmp_path / "r").out.strip()
        before = set(os.listdir("/tmp"))
        found = facts(tmp_path / "r").commit_details([oid], SignatureTrust(gpg_keyring=keyring))[oid].signature
        assert found is not None and (found.status, found.format, found.signer) == ("G", "gpg", "Ann <ann@example.com>")
        assert not [name for name in set(os.listdir("/tmp")) - before if name.startswith("changegate-verify-")]
        agents = subprocess.run(["pgrep", "-af", "gpg-agent"], capture_output=True, text=True).stdout
        assert "changegate-verify-" not in agents
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=env, check=False, capture_output=True)


def test_memory_facts_give_signatures_only_when_asked_with_trust() -> None:
    from engine.change import Signature

    given = {"a" * 40: CommitDetails("m\n", Signature("G", "ssh", "ann", "k"))}
    memory = MemoryFacts(Change((), Actor("ann", "cli", "--actor"), "push"), details=given)
    assert memory.commit_details(["a" * 40, "b" * 40]) == {"a" * 40: CommitDetails("m\n")}
    assert memory.commit_details(["a" * 40], SignatureTrust()) == given
