"""OpenSSH itself agrees with our reading of allowed_signers.

For a file full of wildcards, negations, options, quoting and comments, every
(key, principal, namespace, time) decision of ours is compared with
`ssh-keygen -Y verify`, and the principals we find for a key with
`ssh-keygen -Y find-principals`. Signatures for OpenSSH are SSHSIG over a scratch file
(its own format); only the trust decisions are compared, not the signature formats.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.attest import AllowedSigners, AllowedSignersError, parse_allowed_signers
from tests.helpers.attest import KeyPair, make_key, ssh_keygen

NAMESPACES = ("changegate-evidence", "changegate-approval", "git")
PRINCIPALS = (
    "alice@example.com", "mallory@example.com", "build@ci.example.com",
    "Bob Builder <bob@example.com>", "ci-01", "ci-1", "old@example.com", "x@example.com",
)
TIMES = ("20250601Z", "202512311430Z", "202512311530Z", "20260601Z", "20270601Z")


@pytest.fixture
def local_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    """Both we and ssh-keygen read times without Z in this zone (restored afterwards)."""
    zone: str = request.param
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TZ", zone)
        time.tzset()
        yield zone
    time.tzset()


@pytest.fixture(scope="module")
def carol(keydir: Path) -> KeyPair:
    return make_key(keydir, "carol")


@pytest.fixture(scope="module")
def rsa(keydir: Path) -> KeyPair:
    return make_key(keydir, "dave", key_type="rsa")


def sshsig(key: KeyPair, namespace: str, data: Path) -> Path:
    """An SSHSIG signature of `data` by `key` in `namespace`, made by ssh-keygen."""
    sig = data.with_name(f"{key.path.name}.{namespace}.sig")
    made = ssh_keygen("-Y", "sign", "-f", key.path, "-n", namespace, stdin=data.read_bytes())
    assert made.returncode == 0, made.stderr
    sig.write_text(made.stdout)
    return sig


def openssh_verifies(allowed: Path, sig: Path, data: Path, principal: str, namespace: str, at: str) -> bool:
    run = ssh_keygen("-Y", "verify", "-f", allowed, "-I", principal, "-n", namespace, "-s", sig,
                     "-O", f"verify-time={at}", stdin=data.read_bytes())
    return run.returncode == 0


def openssh_principals(allowed: Path, sig: Path, at: str) -> tuple[str, ...]:
    run = ssh_keygen("-Y", "find-principals", "-f", allowed, "-s", sig, "-O", f"verify-time={at}")
    return tuple(run.stdout.splitlines()) if run.returncode == 0 else ()


def when(text: str) -> dt.datetime:
    return dt.datetime.strptime(text.rstrip("Z").ljust(12, "0"), "%Y%m%d%H%M").replace(tzinfo=dt.UTC)


def write_tricky_file(path: Path, alice: KeyPair, bob: KeyPair, carol: KeyPair, rsa: KeyPair) -> None:
    path.write_text(
        "# changegate trust file: every line here is something a real file might hold\n"
        "   # an indented comment\n"
        "\n"
        f'alice@example.com,*@ci.example.com namespaces="changegate-evidence" {alice.public_line}'
        "  alice's laptop\n"
        f'"Bob Builder <bob@example.com>" {bob.public_line}\n'
        f'*,!mallory@example.com VALID-AFTER="20260101Z",valid-before="20270101Z" {alice.public_line}\n'
        f'ci-?? namespaces="changegate-*,!changegate-approval",valid-before="20250101Z" {carol.public_line}\n'
        f'ci-?? Namespaces="changegate-approval" {carol.public_line}\n'
        f'old@example.com valid-before="20260101" {bob.public_line}\n'
        f"*@example.com cert-authority {bob.public_line}\n"
        f"eve@example.com {rsa.public_line}\n"
    )


@pytest.mark.parametrize("local_zone", ["Asia/Tokyo"], indirect=True)
def test_ssh_keygen_makes_the_same_decisions_on_a_tricky_file(
    tmp_path: Path, alice: KeyPair, bob: KeyPair, carol: KeyPair, rsa: KeyPair, local_zone: str
) -> None:
    allowed, data = tmp_path / "allowed_signers", tmp_path / "data"
    data.write_bytes(b"the same bytes for every signature\n")
    write_tricky_file(allowed, alice, bob, carol, rsa)
    trust = parse_allowed_signers(allowed.read_text())
    assert os.environ["TZ"] == local_zone  # inherited by ssh-keygen

    disagreements, accepted = [], 0
    for key, namespace in itertools.product((alice, bob, carol), NAMESPACES):
        sig = sshsig(key, namespace, data)
        for principal, at in itertools.product(PRINCIPALS, TIMES):
            ours = trust.authorizes(key.public, principal=principal, namespace=namespace, now=when(at))
            theirs = openssh_verifies(allowed, sig, data, principal, namespace, at)
            accepted += theirs
            if ours != theirs:
                disagreements.append((key.path.name, principal, namespace, at, ours, theirs))
    assert disagreements == []
    assert 0 < accepted < len(NAMESPACES) * len(PRINCIPALS) * len(TIMES) * 3  # both kinds occur


@pytest.mark.parametrize("local_zone", ["Asia/Tokyo"], indirect=True)
def test_find_principals_agrees_with_ssh_keygen(
    tmp_path: Path, alice: KeyPair, bob: KeyPair, carol: KeyPair, rsa: KeyPair, local_zone: str
) -> None:
    allowed, data = tmp_path / "allowed_signers", tmp_path / "data"
    data.write_bytes(b"x")
    write_tricky_file(allowed, alice, bob, carol, rsa)
    trust = parse_allowed_signers(allowed.read_text())
    seen = {}
    for key, at in itertools.product((alice, bob, carol), TIMES):
        ours = trust.find_principals(key.public, now=when(at))
        assert ours == openssh_principals(allowed, sshsig(key, "git", data), at), (key.path.name, at)
        seen[key.path.name, at] = ours
    assert seen["alice", "20250601Z"] == ("alice@example.com", "*@ci.example.com")
    assert seen["bob", "202512311430Z"] == ("Bob Builder <bob@example.com>",)
    assert seen["carol", "20250601Z"] == ("ci-??",)


@pytest.mark.parametrize("local_zone", ["Europe/Berlin"], indirect=True)
@pytest.mark.parametrize("at", ["202607010930Z", "202607011030Z", "202607011130Z"])
def test_local_times_in_summer_are_read_as_openssh_reads_them(
    tmp_path: Path, alice: KeyPair, local_zone: str, at: str
) -> None:
    # OpenSSH hands mktime a zeroed struct tm (tm_isdst = 0): a summer time is read as
    # standard time, an hour off from the wall clock. We mirror that, not the wall clock.
    allowed, data = tmp_path / "allowed_signers", tmp_path / "data"
    data.write_bytes(b"x")
    allowed.write_text(f'alice valid-before="20260701120000" {alice.public_line}\n')
    trust = parse_allowed_signers(allowed.read_text())
    sig = sshsig(alice, "git", data)
    ours = trust.authorizes(alice.public, principal="alice", namespace="git", now=when(at))
    assert ours == openssh_verifies(allowed, sig, data, "alice", "git", at)


@pytest.mark.parametrize(
    "options",
    ['namespaces=git', 'nosuch="x"', 'namespaces="git",', 'valid-after="20260102Z",valid-before="20260101Z"',
     'valid-after="2026"', 'namespaces="a",namespaces="b"'],
)
def test_lines_openssh_refuses_are_refused_here(tmp_path: Path, alice: KeyPair, options: str) -> None:
    allowed, data = tmp_path / "allowed_signers", tmp_path / "data"
    data.write_bytes(b"x")
    allowed.write_text(f"alice {options} {alice.public_line}\n")
    run = ssh_keygen("-Y", "find-principals", "-f", allowed, "-s", sshsig(alice, "git", data))
    assert run.returncode != 0 and f"{allowed}:1:" in run.stderr
    with pytest.raises(AllowedSignersError) as caught:
        parse_allowed_signers(allowed.read_text())
    assert caught.value.errors[0][0] == 1


def test_rsa_line_is_the_one_documented_difference(tmp_path: Path, rsa: KeyPair) -> None:
    allowed, data = tmp_path / "allowed_signers", tmp_path / "data"
    data.write_bytes(b"x")
    allowed.write_text(f"eve@example.com {rsa.public_line}\n")
    trust: AllowedSigners = parse_allowed_signers(allowed.read_text())
    assert openssh_principals(allowed, sshsig(rsa, "git", data), "20260101Z") == ("eve@example.com",)
    assert trust.find_principals(rsa.public, now=when("20260101Z")) == ()
    assert [(s.line, s.fingerprint) for s in trust.skipped] == [(1, rsa.fingerprint)]
