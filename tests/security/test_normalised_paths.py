"""Names that only differ by case, Unicode form, invisible characters or trailing spaces and dots
are caught by deny-side path patterns by default, and the pusher is told why; `path_matching:
exact` gives git's byte-exact verdict. Real pushes."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from engine.change import show
from tests.helpers.repos import Clone, Server
from tests.security.patterns_support import GitIgnore, fast_import

PATTERNS = ["*.safetensors", "modèles/"]
VARIANTS = [
    "W.SafeTensors",                                        # case
    unicodedata.normalize("NFD", "modèles") + "/config.yaml",  # NFD (macOS) spelling of the NFC pattern
    "Modèles/a.txt",                                        # case of a directory
    "w.safetensors ",                                       # a trailing space (Windows drops it)
    "w.safetensors.",                                       # a trailing dot (Windows drops it)
    "sub/w.ｓａｆｅｔｅｎｓｏｒｓ",                                 # fullwidth letters
    "w.safe\u200btensors",                                  # a zero-width space (format character)
    "modèles\u00a0 /b.txt",                                 # no-break space then space, at the end of a directory
]


def _policy(extra: str = "") -> str:
    return f"""version: 1
name: normalisation
rules:
  - id: no-weights
    deny_paths: {json.dumps(PATTERNS, ensure_ascii=False)}{extra}
  - id: prompts-frozen
    refs: ["refs/heads/main"]
    when: {{paths: ["prompts/"]}}
    deny: [update]{extra}
"""


def _push(tmp_path: Path, policy: str, paths: list[str]) -> tuple[Server, str, int]:
    server = Server(tmp_path, policy)
    clone = Clone(tmp_path, server)
    base = clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    fast_import(clone.path, [(b"refs/heads/main", [p.encode() for p in paths])], base)
    result = clone.push("refs/heads/main:refs/heads/main")
    return server, result.remote, result.code


def test_variants_of_a_denied_name_are_rejected_and_the_message_says_why(tmp_path: Path) -> None:
    server, remote, code = _push(tmp_path, _policy(), VARIANTS)
    assert code != 0
    assert f"{len(VARIANTS)} matched only after case/Unicode normalisation" in remote
    for path in VARIANTS:
        assert f" adds {show(path)} (matches " in remote, path
    assert remote.count("after case/Unicode normalisation, as ") == len(VARIANTS)
    record = json.loads(server.audit_log.read_text().splitlines()[-1])
    denied = next(o for o in record["outcomes"] if o["rule"] == "no-weights")
    assert sorted(denied["paths"]) == sorted(VARIANTS)


def test_path_matching_exact_gives_gits_own_verdict(tmp_path: Path) -> None:
    git = GitIgnore(tmp_path / "checkignore")
    ignored = [v for v, (hit, _) in zip(VARIANTS, git.verdicts([p.encode() for p in PATTERNS],
                                                               [v.encode() for v in VARIANTS]), strict=True) if hit]
    assert ignored == []  # git matches none of them byte-exactly
    server, remote, code = _push(tmp_path, _policy("\n    path_matching: exact"), VARIANTS)
    assert code == 0, remote


def test_exact_matches_are_still_denied_with_path_matching_exact(tmp_path: Path) -> None:
    server, remote, code = _push(tmp_path, _policy("\n    path_matching: exact"), ["w.safetensors", "W.SafeTensors"])
    assert code != 0
    assert "adds w.safetensors" in remote and "W.SafeTensors" not in remote


@pytest.mark.parametrize("path", ["Prompts/system.txt", "prompts\u200d/system.txt", "PROMPTS /x"])
def test_when_paths_apply_to_a_normalised_match_and_say_why(tmp_path: Path, path: str) -> None:
    server, remote, code = _push(tmp_path, _policy(), [path])
    assert code != 0
    assert "[DENY] prompts-frozen" in remote
    assert f"the rule applies because {show(path)} matches when.paths prompts/ after case/Unicode " \
           "normalisation" in remote


def test_when_paths_with_path_matching_exact_ignore_a_differently_cased_path(tmp_path: Path) -> None:
    server, remote, code = _push(tmp_path, _policy("\n    path_matching: exact"), ["Prompts/system.txt"])
    assert code == 0, remote
