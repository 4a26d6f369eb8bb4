"""`require: {signed_commits: ...}` through real pushes: keys made here with ssh-keygen (and gpg),
commits signed by `git commit -S`, verified by git inside the pre-receive hook.

Adversarial: a signed tip over an unsigned parent, a tampered signature, a key trusted only
for another namespace, an allowed_signers file the push itself brings, and trust the server
account (its git configuration, a GNUPGHOME in the environment) would add.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.audit import read
from tests.helpers.repos import Clone, Result, Server, git, policy_cli

POLICY = """\
version: 1
name: signed
trust: {allowed_signers: allowed_signers}
rules:
  - id: signed
    refs: [refs/heads/main]
    require:
      signed_commits: BODY
"""


def ssh_key(root: Path, name: str) -> Path:
    key = root / f"{name}-key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True)
    return key


def trusted(key: Path, principal: str, options: str = "") -> str:
    kind, blob = (key.parent / f"{key.name}.pub").read_text().split()[:2]
    return f"{principal} {options + ' ' if options else ''}{kind} {blob}\n"


def signed(clone: Clone, key: Path, message: str, *files: str) -> str:
    """A commit signed with the SSH key, as a developer makes one."""
    for file in files:
        clone.write(file, f"{message}\n")
    clone.git("add", "-A")
    clone.git("-c", "gpg.format=ssh", "-c", f"user.signingkey={key}", "commit", "-q", "-S", "--allow-empty",
              "-m", message)
    return clone.head()


class Setup:
    def __init__(self, root: Path, body: str = "{}") -> None:
        self.root = root
        self.ann = ssh_key(root, "ann")
        self.eve = ssh_key(root, "eve")
        (root / "allowed_signers").write_text(trusted(self.ann, "ann@example.com"))
        self.server = Server(root, POLICY.replace("BODY", body))
        self.clone = Clone(root, self.server)
        signed(self.clone, self.ann, "init", "README.md")
        assert self.push().code == 0, self.push().out

    def push(self, env: dict[str, str] | None = None) -> Result:
        return self.clone.push("HEAD:refs/heads/main", env=env)

    def outcome(self) -> dict[str, object]:
        found: dict[str, object] = read(str(self.server.audit_log))[-1]["outcomes"][0]
        return found


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    return Setup(tmp_path)


def test_commits_signed_by_a_trusted_key_pass(setup: Setup) -> None:
    signed(setup.clone, setup.ann, "one", "a.txt")
    signed(setup.clone, setup.ann, "two", "b.txt")
    result = setup.push()
    assert result.code == 0, result.out
    outcome = setup.outcome()
    assert outcome["status"] == "pass"
    assert "2 new commit(s) signed by trusted keys: ann@example.com (2)" in str(outcome["message"])


def test_an_unsigned_commit_is_denied_and_named(setup: Setup) -> None:
    commit = setup.clone.commit("unsigned", "a.txt")
    result = setup.push()
    assert result.code != 0
    assert f"commit {commit[:10]} on refs/heads/main by Ann Author <ann@example.com>: unsigned" in result.remote
    assert setup.server.rev("refs/heads/main") != commit


def test_a_key_missing_from_allowed_signers_is_denied(setup: Setup) -> None:
    commit = signed(setup.clone, setup.eve, "by eve", "a.txt")
    result = setup.push()
    assert result.code != 0
    fingerprint = subprocess.run(["ssh-keygen", "-l", "-f", f"{setup.eve}.pub"], capture_output=True, text=True,
                                 check=True).stdout.split()[1]
    assert f"commit {commit[:10]} on refs/heads/main by Ann Author <ann@example.com>: signed by SSH key " \
           f"{fingerprint}, which no line of" in result.remote
    assert "allowed_signers trusts" in result.remote


def test_a_key_trusted_only_for_another_namespace_does_not_sign_commits(tmp_path: Path) -> None:
    """allowed_signers' namespaces= option: a key trusted to sign approvals is not trusted for git."""
    setup = Setup(tmp_path)
    with open(tmp_path / "allowed_signers", "a", encoding="ascii") as f:
        f.write(trusted(setup.eve, "eve@example.com", 'namespaces="changegate-approval"'))
    commit = signed(setup.clone, setup.eve, "by eve", "a.txt")
    result = setup.push()
    assert result.code != 0 and f"commit {commit[:10]}" in result.remote
    with open(tmp_path / "allowed_signers", "a", encoding="ascii") as f:
        f.write(trusted(setup.eve, "eve@example.com", 'namespaces="git"'))
    assert setup.push().code == 0


def test_a_tampered_commit_keeps_its_signature_but_is_denied(setup: Setup) -> None:
    original = signed(setup.clone, setup.ann, "pay 10 to eve", "a.txt")
    raw = setup.clone.git("cat-file", "commit", original).out
    assert "-----BEGIN SSH SIGNATURE-----" in raw
    forged = git("hash-object", "-t", "commit", "-w", "--stdin", cwd=setup.clone.path,
                 stdin=raw.replace("pay 10 to eve", "pay 99 to eve").encode()).out.strip()
    setup.clone.git("reset", "-q", "--hard", forged)
    result = setup.push()
    assert result.code != 0
    assert f"commit {forged[:10]} on refs/heads/main by Ann Author <ann@example.com>: bad signature" in result.remote


def test_a_signed_tip_over_an_unsigned_parent_is_denied(setup: Setup) -> None:
    parent = setup.clone.commit("unsigned parent", "a.txt")
    tip = signed(setup.clone, setup.ann, "signed tip", "b.txt")
    result = setup.push()
    assert result.code != 0
    assert "1 of 2 new commit(s) not signed by a trusted key" in result.remote
    assert f"commit {parent[:10]} on refs/heads/main by Ann Author <ann@example.com>: unsigned" in result.remote
    assert f"commit {tip[:10]}" not in result.remote
    assert setup.server.rev("refs/heads/main") != tip


def test_the_server_accounts_own_git_configuration_adds_no_trusted_key(setup: Setup) -> None:
    """gpg.ssh.allowedSignersFile set on the server repository is not the policy's trust."""
    own = setup.root / "server-signers"
    own.write_text(trusted(setup.eve, "eve@example.com"))
    git("config", "gpg.ssh.allowedSignersFile", str(own), cwd=setup.server.path)
    signed(setup.clone, setup.eve, "by eve", "a.txt")
    assert setup.push().code != 0


def test_an_allowed_signers_file_the_push_brings_is_not_trusted(tmp_path: Path) -> None:
    """The policy lives in the protected ref; eve adds her own key to its allowed_signers and signs
    with it: the push is judged by the file as it is before the push, which does not trust her."""
    ann, eve = ssh_key(tmp_path, "ann"), ssh_key(tmp_path, "eve")
    (tmp_path / "allowed_signers").write_text(trusted(ann, "ann@example.com"))
    server = Server(tmp_path, POLICY.replace("BODY", "{}").replace("allowed_signers}", ".changegate/allowed_signers}"),
                    policy_ref="refs/heads/main:.changegate/policy.yml")
    # bootstrap: the fallback policy file (beside which no .changegate/ exists) would deny everything;
    # so the first commit goes in through the policy the ref will hold, with ann's key trusted there
    (tmp_path / ".changegate").mkdir()
    (tmp_path / ".changegate" / "allowed_signers").write_text(trusted(ann, "ann@example.com"))
    clone = Clone(tmp_path, server)
    clone.write(".changegate/policy.yml", server.policy_file.read_text())
    clone.write(".changegate/allowed_signers", trusted(ann, "ann@example.com"))
    signed(clone, ann, "policy", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    shutil.rmtree(tmp_path / ".changegate")  # from now on only the protected ref's files count

    with open(clone.path / ".changegate" / "allowed_signers", "a", encoding="ascii") as f:
        f.write(trusted(eve, "eve@example.com"))
    commit = signed(clone, eve, "trust me")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert f"commit {commit[:10]} on refs/heads/main" in result.remote and "which no line of" in result.remote
    assert "refs/heads/main:.changegate/allowed_signers" in result.remote

    # once the administrator's change (signed by a trusted key) has landed, eve's key counts
    clone.git("reset", "-q", "--hard", "HEAD~1")
    with open(clone.path / ".changegate" / "allowed_signers", "a", encoding="ascii") as f:
        f.write(trusted(eve, "eve@example.com"))
    signed(clone, ann, "trust eve")
    assert clone.push("HEAD:refs/heads/main").code == 0
    signed(clone, eve, "by eve", "a.txt")
    assert clone.push("HEAD:refs/heads/main").code == 0


def test_a_missing_allowed_signers_file_denies_every_push(setup: Setup) -> None:
    (setup.root / "allowed_signers").unlink()
    signed(setup.clone, setup.ann, "one", "a.txt")
    result = setup.push()
    assert result.code != 0
    assert "signatures cannot be trusted: the allowed signers file" in result.remote


# --------------------------------------------------------------------------- GPG

def _gpg_available() -> bool:
    return shutil.which("gpg") is not None


class GnuPG:
    """A signer's own GnuPG home with one fresh key (no passphrase); its agent is stopped after."""

    def __init__(self, home: Path, uid: str) -> None:
        self.home = home
        home.mkdir(mode=0o700)
        self.env = {**os.environ, "GNUPGHOME": str(home)}
        subprocess.run(["gpg", "--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", "",
                        "--quick-gen-key", uid, "ed25519", "sign", "never"], env=self.env, check=True,
                       capture_output=True)
        listed = subprocess.run(["gpg", "--batch", "--with-colons", "--list-keys"], env=self.env, check=True,
                                capture_output=True, text=True).stdout
        self.fingerprint = next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:"))

    def export(self) -> bytes:
        return subprocess.run(["gpg", "--batch", "--export", "--armor", self.fingerprint], env=self.env, check=True,
                              capture_output=True).stdout

    def sign(self, clone: Clone, message: str, *files: str) -> str:
        for file in files:
            clone.write(file, f"{message}\n")
        clone.git("add", "-A")
        clone.git("-c", "gpg.format=openpgp", "-c", f"user.signingkey={self.fingerprint}", "commit", "-q", "-S",
                  "--allow-empty", "-m", message, env={"GNUPGHOME": str(self.home)})
        return clone.head()

    def stop(self) -> None:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], env=self.env, check=False, capture_output=True)


@pytest.fixture
def gnupg(tmp_path: Path) -> Iterator[tuple[GnuPG, GnuPG]]:
    if not _gpg_available():
        pytest.fail("gpg is not installed: the GPG half of signed_commits cannot be tested (apt-get install gnupg)")
    keys = (GnuPG(tmp_path / "gnupg-ann", "Ann <ann@example.com>"), GnuPG(tmp_path / "gnupg-eve", "Eve <eve@x>"))
    try:
        yield keys
    finally:
        for key in keys:
            key.stop()


def test_gpg_signatures_are_trusted_through_the_keyring_file_only(tmp_path: Path, gnupg: tuple[GnuPG, GnuPG]) -> None:
    ann, eve = gnupg
    (tmp_path / "keyring.asc").write_bytes(ann.export())
    setup = Setup(tmp_path, "{formats: [ssh, gpg], gpg_keyring: keyring.asc}")
    ann.sign(setup.clone, "gpg one", "a.txt")
    result = setup.push()
    assert result.code == 0, result.out
    assert "Ann <ann@example.com> (1)" in str(setup.outcome()["message"])

    commit = eve.sign(setup.clone, "gpg by eve", "b.txt")
    # the pusher's environment names eve's own GnuPG home, which holds her key: it must not count
    result = setup.push(env={"GNUPGHOME": str(eve.home)})
    assert result.code != 0
    assert f"commit {commit[:10]} on refs/heads/main by Ann Author <ann@example.com>: signed by GPG key" in \
        result.remote
    assert "which is not in the trusted keyring" in result.remote


def test_a_gpg_signature_does_not_count_where_only_ssh_is_accepted(tmp_path: Path,
                                                                   gnupg: tuple[GnuPG, GnuPG]) -> None:
    ann, _ = gnupg
    (tmp_path / "keyring.asc").write_bytes(ann.export())  # present, but this rule does not name it
    setup = Setup(tmp_path)
    commit = ann.sign(setup.clone, "gpg", "a.txt")
    result = setup.push(env={"GNUPGHOME": str(ann.home)})
    assert result.code != 0
    assert f"commit {commit[:10]}" in result.remote
    assert "signed with GPG, which this rule does not accept (ssh)" in result.remote


def test_policy_check_in_a_clone_decides_as_the_hook_does(setup: Setup) -> None:
    old = setup.clone.head()
    unsigned = setup.clone.commit("unsigned", "a.txt")
    signed(setup.clone, setup.ann, "signed", "b.txt")
    checked = policy_cli("check", "--repo", str(setup.clone.path), "--policy", str(setup.server.policy_file),
                         "--ref", "refs/heads/main", "--old", old, "--new", "HEAD", "--format", "json")
    assert checked.returncode == 1, checked.stderr
    [outcome] = json.loads(checked.stdout)["outcomes"]
    assert outcome["status"] == "fail" and unsigned[:10] in outcome["seen"][0]
    assert setup.push().code != 0
    assert setup.outcome()["seen"] == outcome["seen"]
