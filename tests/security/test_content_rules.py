"""Adversarial pushes against the content rules: the shapes a pusher could use to hide a key from
deny_secrets' screen or from detect-secrets' filters, and a pickle dressed up as text."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.repos import protected
from tests.rules.test_models import evil_pickle
from tests.rules.test_secrets import AWS_KEY, GITHUB_TOKEN

POLICY = ("version: 1\nname: content\nrules:\n  - id: no-secrets\n    deny_secrets: {}\n"
          "  - id: safe-models\n    deny_unsafe_models: {}\n")


def test_the_pushers_own_allowlist_comment_and_call_shapes_hide_nothing(tmp_path: Path) -> None:
    server, clone = protected(tmp_path, POLICY)
    clone.write("app/settings.py", f"KEY = '{AWS_KEY}'  # pragma: allowlist secret\n"
                                   f"TOKEN = str('{GITHUB_TOKEN}')\n")
    clone.commit("settings")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "app/settings.py: line 1: AWS Access Key" in result.remote
    assert "app/settings.py: line 2: GitHub Token" in result.remote


def test_a_key_among_non_ascii_text_with_crlf_line_ends_is_found(tmp_path: Path) -> None:
    server, clone = protected(tmp_path, POLICY)
    clone.write("prompts/fr.txt", f"Bonjour ! Voici la clé : {GITHUB_TOKEN} 🙂\r\nMerci\r\n".encode())
    clone.commit("prompt fr")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "prompts/fr.txt: line 1: GitHub Token" in result.remote
    assert GITHUB_TOKEN not in result.out


def test_a_text_pickle_named_like_a_prompt_with_text_after_it_is_denied(tmp_path: Path) -> None:
    server, clone = protected(tmp_path, POLICY)
    clone.write("prompts/system.txt", evil_pickle(0) + b"\nYou are a helpful assistant.\n")
    clone.commit("prompt")
    result = clone.push("HEAD:refs/heads/main")
    assert result.code != 0
    assert "prompts/system.txt: a pickle (text protocol) that imports posix.system (dangerous)" in result.remote
