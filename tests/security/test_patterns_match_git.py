"""Path patterns mean what git means: changegate agrees with `git check-ignore` on every pair.

Hypothesis generates pattern lists and paths over the characters that carry meaning in a
.gitignore (and some that must carry none: control bytes, multi-byte UTF-8); every path of an
example goes through one check-ignore call. Normalised matching may only add matches.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.patterns_support import GitIgnore, ours

PATTERN_TOKENS = ["*", "**", "?", "[", "]", "!", "/", "\\", " ", "a", "b", "A", "é", "-", "^", ":", "[:alpha:]",
                  "\x01", "\t", "\x7f", "\u0085", "\u2028"]
PATH_TOKENS = ["a", "b", "A", "é", " ", "*", "?", "[", "]", "!", "\\", "-", "\x01", "\n", "\r", "\x7f",
               "\u0085", "\u2028"]
RAW = [b"\xe9", b"\xff"]  # not UTF-8


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> GitIgnore:
    return GitIgnore(tmp_path_factory.mktemp("checkignore"))


def _token(tokens: list[str]) -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from([t.encode() for t in tokens]), st.sampled_from(RAW))


patterns_st = st.lists(
    st.lists(_token(PATTERN_TOKENS), min_size=1, max_size=7).map(b"".join).filter(lambda p: not p.startswith(b"#")),
    min_size=1, max_size=5)
component_st = st.lists(_token(PATH_TOKENS), min_size=1, max_size=3).map(b"".join)
path_st = st.lists(component_st, min_size=1, max_size=4).map(b"/".join)


@st.composite
def examples(draw: st.DrawFn) -> tuple[list[bytes], list[bytes]]:
    """Patterns, and paths both random and derived from the patterns (so that many pairs match)."""
    patterns = draw(patterns_st)
    paths = draw(st.lists(path_st, min_size=1, max_size=20))
    for pattern in patterns:
        body = pattern.lstrip(b"!/").rstrip(b"/ ")
        for wild, fill in ((b"**", b"a/b"), (b"*", b"ab"), (b"?", b"A"), (b"\\", b"")):
            body = body.replace(wild, draw(st.sampled_from([fill, b"\n", b"", b"\xc3\xa9"])))
        if body and b"//" not in body and not body.startswith(b"/"):
            paths += [body, b"x/" + body, body + b"/y"]
    # check-ignore reads its input as pathspecs: a leading ':' would be pathspec magic
    return patterns, sorted({p for p in paths if p and not p.startswith(b":")
                             and not set(p.split(b"/")) & {b"", b".", b"..", b".git"}})


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(examples())
def test_exact_matching_agrees_with_git_check_ignore(git: GitIgnore, example: tuple[list[bytes], list[bytes]]) -> None:
    patterns, paths = example
    exact, refused = ours(patterns)
    normalized, _ = ours(patterns, normalize=True)
    for path, (ignored, line) in zip(paths, git.verdicts(patterns, paths), strict=True):
        assert line not in refused, f"refused {patterns[line - 1]!r}, which git matches against {path!r}"
        assert exact.match(path) is ignored, (patterns, path)
        assert normalized.match(path) or not ignored, (patterns, path)  # normalising only adds matches


# Every disagreement the issue reported, and the corners of git's rules, each checked against git too.
CASES = [
    # a file below an excluded directory cannot be re-included
    (["secrets/", "!secrets/README.md"], "secrets/README.md", True),
    (["secrets/**", "!secrets/README.md"], "secrets/README.md", False),
    (["secrets/**", "!secrets/README.md"], "secrets/a/README.md", True),
    (["/build", "!/build/keep/x"], "build/keep/x", True),
    # a "!" on a directory un-matches the directory, not the files below it
    (["*.bin", "!models/"], "models/w.bin", True),
    (["models/", "!models/"], "models/w.bin", False),
    (["models/", "!models/"], "models", False),
    # "*/" and "**/": any directory
    (["*/"], "a/w", True),
    (["*/"], "w", False),
    (["**/"], "a/b/w", True),
    (["a/*/"], "a/b/w", True),
    # trailing "**/" matches directories (so what is below them), never a file itself
    (["a/**/"], "a/w", False),
    (["a/**/"], "a/b/w", True),
    (["a/**"], "a/w", True),
    (["a/**"], "a", False),
    (["**/b"], "b", True),
    (["a/**/b"], "a/b", True),
    (["a/**/b"], "a/x/y/b", True),
    # "**" next to other characters is "*"; right after the literal prefix it starts the pattern (git)
    (["a/x**y"], "a/x/y", False),
    (["a/x**"], "a/xb/c", True),
    (["x**/y"], "x/y", True),
    (["x**/y"], "xy", True),
    # "?" and "[...]" are one byte: "é" is two
    (["caf?"], "café", False),
    (["caf??"], "café", True),
    (["caf[é]"], "café", False),
    (["caf[é][é]"], "café", True),
    (["caf[!a]?"], "café", True),
    # bracket corners
    (["[]a]"], "]", True),
    (["[!]a]"], "b", True),
    (["[a-]"], "-", True),
    (["[[:alpha:]]"], "é", False),
    (["[[:space:]]"], "\x0b", False),
    (["[[:space:]]"], "\r", True),
    (["[[:punct:]]x"], "!x", True),
    (["[[:nope:]]"], "a", False),
    (["[[:alpha]"], "l", True),
    (["a[/]b"], "a/b", False),
    (["[a"], "[a", False),
    # escapes and trailing spaces
    (["w\\ "], "w ", True),
    (["w "], "w", True),
    (["w "], "w ", False),
    (["w\\  "], "w ", True),
    (["\\!x"], "!x", True),
    (["\\#x"], "#x", True),
    (["a\\"], "a", False),
    (["a\\*"], "a*", True),
    (["a\\*"], "ab", False),
    # control characters, line breaks and invalid UTF-8 are ordinary bytes
    (["*.safetensors"], "a\nb/w.safetensors", True),
    (["a?b/*"], "a\nb/x", True),
    (["**/w"], "x\r/\u2028/w", True),
    (["/x*/**"], "x\x85\n/y", True),
]


@pytest.mark.parametrize(("patterns", "path", "expected"), CASES, ids=[f"{p}-{q!r}" for p, q, _ in CASES])
def test_pattern_corner_cases_match_git(git: GitIgnore, patterns: list[str], path: str, expected: bool) -> None:
    raw = [p.encode() for p in patterns]
    assert git.verdicts(raw, [path.encode()])[0][0] is expected  # the expectation is git's own
    assert ours(raw)[0].match(path.encode()) is expected
