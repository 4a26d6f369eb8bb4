"""Worst cases for `policy validate`: hostile and maximal policies up to 1 MiB, timed.

Each case is generated to fill the size limit (or to hit one limit as late as possible)
and run through the real command; the issue's target is an answer within 2 s on a
2-core server for any input up to 1 MiB, and a clear refusal of anything larger.

    python bench/validate_bench.py [--runs 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.policy.limits import (  # noqa: E402
    MAX_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    MAX_PATTERNS,
    MAX_PATTERNS_PER_LIST,
    MAX_RULES,
)

HEAD = "version: 1\nname: bench\n"


def fill(prefix: str, unit: Callable[[int], str], suffix: str = "", limit: int = MAX_BYTES) -> str:
    """prefix + unit(0) + unit(1) + ... + suffix, as long as it fits in `limit` bytes."""
    parts, size, i = [prefix], len(prefix) + len(suffix), 0
    while True:
        piece = unit(i)
        if size + len(piece) > limit:
            break
        parts.append(piece)
        size += len(piece)
        i += 1
    return "".join(parts) + suffix


def maximal() -> str:
    """A valid policy at the rule and pattern limits, as a large organisation might write it."""
    per_rule = MAX_PATTERNS // MAX_RULES
    rules = []
    for i in range(MAX_RULES):
        pats = "".join(f"      - 't{i}/**/*.e{j}'\n" for j in range(per_rule - 1))
        rules.append(f"  - id: r{i}\n    refs: ['refs/heads/main']\n    deny_paths:\n{pats}"
                     f"    message: 'no'\n")
    return HEAD + "rules:\n" + "".join(rules)


def everything_at_the_limit() -> str:
    """Valid, and as costly as the limits allow: every pattern slot filled, the rest of the
    values spent on a long actors list, in as close to 1 MiB as fits."""
    lists = MAX_PATTERNS // MAX_PATTERNS_PER_LIST
    rules = "".join(f"  - id: r{r}\n    deny_paths: [" + ", ".join(f"'**/m{r}/*[0-9]?/f{i}.bin'" for i in range(
        MAX_PATTERNS_PER_LIST)) + "]\n" for r in range(lists))
    used = 7 + lists * (5 + MAX_PATTERNS_PER_LIST) + 10
    actors = ", ".join(f"u{i}" for i in range(MAX_NODES - used))
    return HEAD + "rules:\n" + rules + f"  - id: last\n    deny: [deletion]\n    except: {{actors: [{actors}]}}\n"


def alias_bomb() -> str:
    lines = [HEAD, "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 30)]
    return "".join(lines) + "rules: *a29\n"


CASES: dict[str, Callable[[], str]] = {
    "flow nesting [[[...": lambda: HEAD + "rules: " + "[" * (MAX_BYTES - 40),
    "flow nesting {a: {a: ...": lambda: fill(HEAD + "rules: ", lambda i: "{a: "),
    "block nesting (indented)": lambda: fill(HEAD + "rules:\n", lambda i: " " * (i % MAX_DEPTH * 2) + "- a:\n"),
    "block nesting '- - - -'": lambda: HEAD + "rules:\n" + "- " * (MAX_BYTES // 2 - 40) + "x\n",
    "alias bomb (10^30)": alias_bomb,
    "1 MiB of aliases": lambda: fill(HEAD + "x: &a [1]\nrules: [", lambda i: "*a, ", "]\n"),
    "many anchors": lambda: fill(HEAD + "rules: [", lambda i: f"&a{i} x, ", "]\n"),
    "1 MiB of rules (flow)": lambda: fill(HEAD + "rules:\n", lambda i: f"- {{id: r{i}, deny: [deletion]}}\n"),
    "1 MiB of rules (block)": lambda: fill(HEAD + "rules:\n", lambda i: f"  - id: r{i}\n    deny_paths: ['*.bin']\n"),
    "1 MiB of patterns, one rule": lambda: fill(HEAD + "rules:\n  - id: r\n    deny_paths:\n",
                                                 lambda i: f"      - 'models/**/f{i}.bin'\n"),
    "max patterns per list x 10": lambda: HEAD + "rules:\n" + "".join(
        f"  - id: r{r}\n    deny_paths:\n" + "".join(f"      - 'm{r}/**/f{i}.bin'\n"
                                                     for i in range(MAX_PATTERNS_PER_LIST)) for r in range(10)),
    "one 1 MiB string": lambda: HEAD + "rules:\n  - id: r\n    deny_paths: ['" + "a" * (MAX_BYTES - 60) + "']\n",
    "1 MiB plain scalar": lambda: HEAD + "rules: " + "a" * (MAX_BYTES - 40) + "\n",
    "1 MiB of keys": lambda: fill(HEAD, lambda i: f"k{i}: {i}\n", "rules: []\n"),
    "1 MiB flow list of ints": lambda: fill(HEAD + "rules: [", lambda i: "1,", "1]\n"),
    "1 MiB of comments": lambda: fill(HEAD + "rules:\n  - id: r\n    deny: [deletion]\n", lambda i: "# c\n"),
    "1 MiB of blank lines": lambda: HEAD + "\n" * (MAX_BYTES - 60) + "rules: [{id: r, deny: [deletion]}]\n",
    "unique-items, distinct maps": lambda: HEAD + "rules:\n  - id: r\n    deny: [" + ", ".join(
        f"{{a: {i}}}" for i in range(MAX_NODES // 3 - 10)) + "]\n",
    "every rule invalid": lambda: fill(HEAD + "rules:\n", lambda i: f"- {{id: R{i}, deny: [x], refs: [a]}}\n"),
    "merge keys <<: *a": lambda: fill(HEAD + "b: &b {id: x, deny: [deletion], message: m}\nrules:\n",
                                      lambda i: "- {<<: *b}\n"),
    "maximal valid policy": maximal,
    "every limit filled, valid": everything_at_the_limit,
    "over the size limit (1 MiB + 1)": lambda: HEAD + "rules: []\n" + "#" * MAX_BYTES,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", help="write the generated policies here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        print("| case | bytes | exit | median s | max s | first line of the answer |")
        print("|---|---|---|---|---|---|")
        for index, (name, make) in enumerate(CASES.items()):
            path = folder / f"case{index:02d}.yml"
            path.write_text(make())
            times, proc = [], None
            for _ in range(args.runs):
                start = time.perf_counter()
                proc = subprocess.run([sys.executable, "-m", "engine", "validate", str(path)], cwd=ROOT,
                                      capture_output=True, text=True, check=False)
                times.append(time.perf_counter() - start)
            assert proc is not None
            answer = (proc.stderr or proc.stdout).strip().splitlines()[0].replace(str(path), "P")[:110]
            print(f"| {name} | {path.stat().st_size} | {proc.returncode} | {statistics.median(times):.2f} "
                  f"| {max(times):.2f} | {answer.replace('|', '/')} |")


if __name__ == "__main__":
    main()
