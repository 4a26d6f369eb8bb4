"""Refs changegate reads by name are resolved by their full name, never by git's guessing rules.

`git rev-parse refs/heads/prod` falls back to `refs/tags/refs/heads/prod` (and other
prefixes) when the branch does not exist, so a pushed decoy could otherwise become the
policy that judges every later push.
"""

from __future__ import annotations

from pathlib import Path

from tests.helpers.repos import Clone, Server, git, policy_cli

STRICT = """
version: 1
name: strict
rules:
  - id: no-weights
    deny_paths: ["*.safetensors"]
"""
LAX = "version: 1\nname: lax\nrules:\n  - id: nothing\n    refs: [refs/heads/none]\n    deny: [deletion]\n"


def test_a_decoy_ref_is_not_taken_for_a_missing_policy_ref(tmp_path: Path) -> None:
    server = Server(tmp_path, STRICT, policy_ref="refs/heads/prod:.changegate/policy.yml")
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    clone.write(".changegate/policy.yml", LAX)
    clone.commit("lax policy")
    for decoy in ("refs/tags/refs/heads/prod", "refs/refs/heads/prod", "refs/remotes/refs/heads/prod"):
        assert clone.push(f"HEAD:{decoy}").code == 0  # harmless by themselves under the strict fallback
    clone.commit("weights", "w.safetensors")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "policy 'strict'" in result.remote


def test_trust_files_come_from_the_same_exact_ref(tmp_path: Path) -> None:
    """allowed_signers is read from the commit the policy came from, not by name again."""
    from engine.git import Git
    from engine.policy.source import resolve

    server = Server(tmp_path, STRICT)
    clone = Clone(tmp_path, server)
    clone.write(".changegate/policy.yml", STRICT)
    clone.write(".changegate/allowed_signers", "real\n")
    clone.commit("policy")
    assert clone.push("HEAD:refs/heads/prod").code == 0
    source = resolve(Git(str(server.path)), file=None, ref_spec="refs/heads/prod:.changegate/policy.yml")
    clone.write(".changegate/allowed_signers", "decoy\n")
    clone.commit("decoy")
    assert clone.push("HEAD:refs/tags/refs/heads/prod").code == 0
    git("update-ref", "-d", "refs/heads/prod", cwd=server.path)
    assert source.trusted_file(Git(str(server.path)), ".changegate/allowed_signers") == b"real\n"


def test_hook_install_refuses_a_policy_ref_that_is_not_a_full_ref_name(tmp_path: Path) -> None:
    git("init", "-q", "--bare", str(tmp_path / "s.git"), cwd=tmp_path)
    for spec in ("prod:.changegate/policy.yml", "heads/prod:policy.yml", "refs/heads/bad..name:policy.yml",
                 "refs/heads/x*:policy.yml", "refs/heads/main"):
        proc = policy_cli("hook", "install", "--repo", str(tmp_path / "s.git"), "--policy-ref", spec)
        assert proc.returncode == 2, (spec, proc.stderr)
        assert "full ref name" in proc.stderr or "REF:PATH" in proc.stderr
    assert not (tmp_path / "s.git" / "hooks" / "pre-receive").exists()


def test_policy_check_default_old_value_is_the_exact_ref(tmp_path: Path) -> None:
    """Without --old, the ref's old value is read by its full name: a decoy tag is not it."""
    server = Server(tmp_path, STRICT)
    clone = Clone(tmp_path, server)
    clone.commit("init", "README.md")
    weights = clone.commit("weights", "w.safetensors")
    # a local tag named like the branch points at the bad commit; the branch does not exist
    clone.git("update-ref", "refs/tags/refs/heads/release", weights)
    proc = policy_cli("check", "--repo", str(clone.path), "--policy", str(server.policy_file),
                      "--ref", "refs/heads/release", "--new", weights, "--known-ref", "refs/remotes/**",
                      "--format", "json")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert '"kind": "creation"' in proc.stdout
