"""Identities that never matched (issue 9, class 6): a server names the pusher by user name,
commits name people by address, approvals by signing principal. With the administrator's
mapping (trust.identities) — or, without an entry for the pusher, the local-part fallback —
the change's own people cannot approve it, whichever name they use. Real keys, real
`policy approve`, real pushes with each server's own environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.attest import KeyPair, make_key
from tests.helpers.repos import Clone, Result, Server, policy_cli
from tests.helpers.servers import server_env

NOTES = "refs/notes/changegate/approvals"
POLICY = """
version: 1
name: identities
trust: {allowed_signers: allowed_signers, identities: identities.yml}
rules:
  - id: prompts-need-review
    refs: ["refs/heads/main"]
    when: {paths: ["prompts/**"]}
    require:
      approvals: {count: 1, from: {signers: [alice@example.com, bob@example.com]}}
"""
IDENTITIES = """\
version: 1
people:
  bob:
    users: [bob]
    emails: [bob@example.com, bob@home.example]
    names: [Bob Builder]
    principals: [bob@example.com]
  alice:
    users: [alice]
    principals: [alice@example.com]
"""


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, KeyPair]:
    directory = tmp_path_factory.mktemp("identity-keys")
    return {name: make_key(directory, name) for name in ("alice", "bob")}


class Site:
    """A protected server judging by POLICY (or `policy`) with its trust files beside it, and a
    developer's clone with main pushed. With `policy_ref`, the policy and trust files are committed
    to main instead, and judge every later push from there."""

    def __init__(self, root: Path, keys: dict[str, KeyPair], *, policy: str = POLICY,
                 identities: str | None = IDENTITIES, policy_ref: str | None = None) -> None:
        self.root, self.keys, self.clones = root, keys, 0
        signers = "".join(f'{n}@example.com namespaces="changegate-approval" {keys[n].public_line}\n' for n in keys)
        trusted = {"allowed_signers": signers, "identities.yml": identities, "policy.yml": policy}
        if policy_ref is None:
            for name, text in trusted.items():
                if text is not None and name != "policy.yml":
                    (root / name).write_text(text)
            self.server = Server(root, policy)
        else:  # a bootstrap file judges until main carries the policy
            self.server = Server(root, "version: 1\nrules: [{id: x, deny_paths: ['*.never']}]\n",
                                 policy_ref=policy_ref)
        self.dev = Clone(root, self.server, "dev")
        if policy_ref is not None:
            for name, text in trusted.items():
                if text is not None:
                    self.dev.write(f".changegate/{name}", text)
        self.dev.commit("init", "README.md")
        assert self.dev.push("HEAD:refs/heads/main").code == 0

    def change(self, *, author: tuple[str, str] = ("Ann Author", "ann@example.com"),
               committer: tuple[str, str] | None = None) -> str:
        """A prompt change committed under the given identities, pushed for review."""
        committer = committer or author
        self.dev.write("prompts/system.txt", f"prompt by {author[1]}\n")
        self.dev.git("add", "-A")
        self.dev.git("commit", "-q", "-m", "prompt", env={
            "GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1],
            "GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1]})
        assert self.dev.push("HEAD:refs/heads/review", "--force").code == 0
        return self.dev.head()

    def approve(self, person: str, commit: str, *, principal: str | None = None) -> None:
        self.clones += 1
        clone = Clone(self.root, self.server, f"{person}-{self.clones}")
        clone.git("fetch", "-q", "origin", f"+{NOTES}:{NOTES}", check=False)
        signed = policy_cli("approve", commit, "--key", str(self.keys[person].path), "--ref", "refs/heads/main",
                            "--as", principal or f"{person}@example.com", cwd=clone.path)
        assert signed.returncode == 0, signed.stderr
        assert clone.push(NOTES).code == 0

    def push_main(self, env: dict[str, str] | None = None) -> Result:
        self.dev.git("fetch", "-q", "origin", f"+{NOTES}:{NOTES}", check=False)
        return self.dev.push("HEAD:refs/heads/main", env=env)


def test_the_pusher_cannot_approve_under_their_signing_principal(tmp_path: Path, keys: dict[str, KeyPair]) -> None:
    site = Site(tmp_path, keys)
    commit = site.change()
    site.approve("bob", commit)  # signed as bob@example.com, mapped to gitlab user bob
    pushed = site.push_main(server_env("gitlab", "bob"))
    assert pushed.code != 0, pushed.remote
    assert ("ignored: bob@example.com approved their own change (identities.yml maps bob@example.com and the "
            "pusher's user name (gitlab GL_USERNAME) 'bob' to the same person, bob; exclude_author)") in pushed.remote
    site.approve("alice", commit)
    assert site.push_main(server_env("gitlab", "bob")).code == 0


def test_without_a_mapping_entry_the_pusher_is_caught_by_the_local_part(
        tmp_path: Path, keys: dict[str, KeyPair]) -> None:
    site = Site(tmp_path, keys, policy=POLICY.replace(", identities: identities.yml", ""), identities=None)
    commit = site.change()
    site.approve("bob", commit)
    pushed = site.push_main(server_env("gitea", "BOB"))
    assert pushed.code != 0, pushed.remote
    assert ("bob@example.com approved their own change (matched by the fallback: its local part 'bob' equals the "
            "pusher's user name 'BOB', who cannot be mapped (the policy has no trust.identities); add the pusher "
            "there") in pushed.remote


def test_an_author_committing_under_another_address_cannot_approve(tmp_path: Path, keys: dict[str, KeyPair]) -> None:
    site = Site(tmp_path, keys)
    commit = site.change(author=("Bob Builder", "bob@home.example"))
    site.approve("bob", commit)
    pushed = site.push_main(server_env("gitlab", "ann"))
    assert pushed.code != 0, pushed.remote
    assert (f"identities.yml maps bob@example.com and the author e-mail of commit {commit[:10]} 'bob@home.example' "
            "to the same person, bob") in pushed.remote


def test_a_committer_cannot_approve_either(tmp_path: Path, keys: dict[str, KeyPair]) -> None:
    site = Site(tmp_path, keys)
    commit = site.change(committer=("B. Builder", "bob@home.example"))
    site.approve("bob", commit)
    pushed = site.push_main(server_env("gitlab", "ann"))
    assert pushed.code != 0, pushed.remote
    assert f"the committer e-mail of commit {commit[:10]} 'bob@home.example'" in pushed.remote


@pytest.mark.parametrize("address", ["BOB@EXAMPLE.COM", "ｂｏｂ@example.com", "\u212cob@ｅｘａｍｐｌｅ.com"],
                         ids=["case", "fullwidth", "compatibility"])
def test_identities_match_case_and_unicode_insensitively(tmp_path: Path, keys: dict[str, KeyPair],
                                                           address: str) -> None:
    site = Site(tmp_path, keys, identities=None, policy=POLICY.replace(", identities: identities.yml", ""))
    commit = site.change(author=("Bob", address))
    site.approve("bob", commit)
    pushed = site.push_main()
    assert pushed.code != 0, pushed.remote
    assert "bob@example.com approved their own change (it is the author e-mail of commit" in pushed.remote


def test_the_mapping_comes_from_the_protected_ref_not_from_the_change(
        tmp_path: Path, keys: dict[str, KeyPair]) -> None:
    policy = POLICY.replace("allowed_signers, identities: identities.yml",
                            ".changegate/allowed_signers, identities: .changegate/identities.yml")
    site = Site(tmp_path, keys, policy=policy, policy_ref="refs/heads/main:.changegate/policy.yml")
    # the change also rewrites bob's mapping: the pushed mapping must not judge it
    site.dev.write(".changegate/identities.yml", IDENTITIES.replace("bob@example.com, bob@home.example", "x@y.z")
                   .replace("principals: [bob@example.com]", "principals: [nobody@example.com]"))
    commit = site.change(author=("Bob Builder", "bob@home.example"))
    site.approve("bob", commit)
    pushed = site.push_main(server_env("gitlab", "ann"))
    assert pushed.code != 0, pushed.remote
    assert "refs/heads/main:.changegate/identities.yml maps bob@example.com and the author e-mail" in pushed.remote


def test_an_invalid_identities_file_denies_with_its_location(tmp_path: Path, keys: dict[str, KeyPair]) -> None:
    site = Site(tmp_path, keys, identities=IDENTITIES.replace("    names: [Bob Builder]\n", "    nmes: [Bob]\n"))
    commit = site.change()
    site.approve("alice", commit)
    pushed = site.push_main(server_env("gitlab", "ann"))
    assert pushed.code != 0, pushed.remote
    assert "[ERROR] prompts-need-review: who is who cannot be read" in pushed.remote
    assert "identities.yml:6:5: unknown key 'nmes' in people.bob; allowed keys: emails, names, principals, users" \
        in pushed.remote


@pytest.mark.parametrize("entry", ["[]", "null", "{", '{"format": 1}'])
def test_a_corrupt_cached_mapping_is_rebuilt(tmp_path: Path, keys: dict[str, KeyPair], entry: str) -> None:
    site = Site(tmp_path, keys)
    commit = site.change()
    site.approve("bob", commit)
    assert site.push_main(server_env("gitlab", "bob")).code != 0  # caches the parsed mapping
    [cached] = (site.server.path / "changegate" / "cache").glob("identities-*.json")
    cached.write_text(entry)
    pushed = site.push_main(server_env("gitlab", "bob"))
    assert pushed.code != 0 and "to the same person, bob" in pushed.remote, pushed.remote
    assert json.loads(cached.read_text())["people"]  # rebuilt


def test_except_actors_matches_the_user_name_exactly(tmp_path: Path) -> None:
    server = Server(tmp_path, "version: 1\nrules:\n  - id: no-weights\n    deny_paths: ['*.safetensors']\n"
                              "    except: {actors: [release-bot]}\n")
    clone = Clone(tmp_path, server)
    clone.commit("weights", "model.safetensors")
    for look_alike in ("Release-Bot", "release-bot ", "ｒelease-bot"):
        pushed = clone.push("HEAD:refs/heads/main", env=server_env("gitlab", look_alike))
        assert pushed.code != 0 and "[DENY] no-weights" in pushed.remote, look_alike
    assert clone.push("HEAD:refs/heads/main", env=server_env("gitlab", "release-bot")).code == 0


def test_another_servers_variable_does_not_change_the_pusher(tmp_path: Path, keys: dict[str, KeyPair]) -> None:
    site = Site(tmp_path, keys, policy=POLICY.replace(", identities: identities.yml", ""), identities=None)
    commit = site.change()
    site.approve("bob", commit)
    pushed = site.push_main({**server_env("gitlab", "bob"), "GITHUB_USER_LOGIN": "alice", "GL_USER": "alice"})
    assert pushed.code != 0 and "their own change" in pushed.remote
    record = json.loads(site.server.audit_log.read_text().splitlines()[-1])
    assert record["actor"] == {"name": "bob", "server": "gitlab", "source": "GL_USERNAME"}


def test_two_complete_servers_reject_unless_the_server_is_pinned(tmp_path: Path, keys: dict[str, KeyPair]) -> None:
    site = Site(tmp_path, keys)
    site.change()
    both = {**server_env("github-enterprise", "alice"), **server_env("gitlab", "bob")}
    pushed = site.push_main(both)
    assert pushed.code != 0
    assert "changegate: push rejected: cannot tell which git server runs this hook" in pushed.remote
    assert "policy hook install --server" in pushed.remote
    record = json.loads(site.server.audit_log.read_text().splitlines()[-1])
    assert record["error"] == "unknown-pusher" and record["allowed"] is False
    pinned = policy_cli("hook", "install", "--repo", str(site.server.path), "--policy", str(site.server.policy_file),
                        "--server", "gitlab")
    assert pinned.returncode == 0, pinned.stderr
    assert json.loads((site.server.path / "changegate" / "hook.json").read_text())["server"] == "gitlab"
    pushed = site.push_main(both)
    assert pushed.code != 0 and "prompts-need-review" in pushed.remote  # judged now, with bob as the pusher
    record = json.loads(site.server.audit_log.read_text().splitlines()[-1])
    assert record["actor"] == {"name": "bob", "server": "gitlab", "source": "GL_USERNAME"}
    assert site.push_main(server_env("gitea", "carol")).code != 0  # pinned to gitlab: GL_USERNAME is missing


def test_validate_warns_when_pushers_cannot_be_mapped_to_signers(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(POLICY.replace(", identities: identities.yml", ""))
    checked = policy_cli("validate", str(path))
    assert checked.returncode == 0, checked.stderr
    assert (f"{path}:6: warning: rule 'prompts-need-review' excludes the change's own people from approving "
            "(exclude_author) and accepts signed approvals, but the policy has no trust.identities") in checked.stderr
    path.write_text(POLICY.replace("signers: [alice@example.com, bob@example.com]}",
                                   "signers: [alice@example.com]}, exclude_author: false"))
    (tmp_path / "identities.yml").write_text(IDENTITIES)
    quiet = policy_cli("validate", str(path))
    assert quiet.returncode == 0 and "warning" not in quiet.stderr, quiet.stderr
    assert "identities.yml: valid identities of 2 people" in quiet.stdout


def test_validate_checks_the_identities_file_beside_the_policy(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_text(POLICY)
    (tmp_path / "identities.yml").write_text("version: 1\npeople:\n  bob:\n    users: bob\n")
    checked = policy_cli("validate", str(path))
    assert checked.returncode == 2
    assert "identities.yml:4:12: people.bob.users must be of type array, not str" in checked.stderr
    (tmp_path / "identities.yml").write_text("version: 1\npeople: {}\n" + "#" * (256 * 1024))
    too_big = policy_cli("validate", str(path))
    assert too_big.returncode == 2 and "larger than 262144 bytes (256 KiB)" in too_big.stderr


@pytest.mark.parametrize("second", ["robert@example.com", "ｂｏｂ@example.com"], ids=["mapped", "unicode-form"])
def test_one_person_signing_under_two_principals_counts_once(tmp_path: Path, keys: dict[str, KeyPair],
                                                             second: str) -> None:
    policy = POLICY.replace("count: 1, from: {signers: [alice@example.com, bob@example.com]}",
                            'count: 2, from: {signers: ["*@example.com"]}')
    if second.isascii():  # the mapping says robert@ is bob
        identities: str | None = IDENTITIES.replace("principals: [bob@example.com]",
                                                    "principals: [bob@example.com, robert@example.com]")
    else:  # no mapping needed: the same principal in another Unicode form
        policy, identities = policy.replace(", identities: identities.yml", ""), None
    site = Site(tmp_path, keys, policy=policy, identities=identities)
    (tmp_path / "allowed_signers").write_text(
        f'alice@example.com namespaces="changegate-approval" {keys["alice"].public_line}\n'
        f'bob@example.com,{second} namespaces="changegate-approval" {keys["bob"].public_line}\n')
    commit = site.change()
    site.approve("bob", commit)
    site.approve("bob", commit, principal=second)
    pushed = site.push_main(server_env("gitlab", "ann"))
    assert pushed.code != 0, pushed.remote
    assert "1 valid approval(s) of 2" in pushed.remote
    assert "approval is not counted again" in pushed.remote and "who already approved" in pushed.remote
    site.approve("alice", commit)
    assert site.push_main(server_env("gitlab", "ann")).code == 0
