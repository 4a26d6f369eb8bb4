"""`policy replay`: what a policy would have denied over a generated history with known violations.

The history is written with `git fast-import` (exact commit times, a side branch merged
into main, a release branch forked from it), so every count below is worked out by hand
from the commits listed in `history()`; the last test checks replay against the real hook.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tests.helpers.repos import Clone, Server, git, policy_cli

DAY = 86400

POLICY = """
version: 1
name: replay-test
sources:
  prometheus: {url: "http://127.0.0.1:9", timeout: 1s}
rules:
  - id: no-weights
    deny_paths: ["*.safetensors"]
  - id: main-no-notebooks
    refs: ["refs/heads/main"]
    deny_paths: ["*.ipynb"]
  - id: no-tmp-trial
    deny_paths: ["*.tmp"]
    enforcement: evaluate
  - id: error-budget
    on: [merge, deploy]
    require:
      threshold: {query: "sum(rate(errors_total[5m]))", below: 1}
  - id: eval-no-regression
    on: [merge]
    require:
      benchmark: {results: {file: results.json}, format: json, metric: acc, min: 0.5}
"""

# (mark, branch, day, parents (marks; the first is the first parent), {path: content or None to delete})
COMMITS: list[tuple[str, str, int, list[str], dict[str, str | None]]] = [
    ("M1", "main", 0, [], {"README.md": "hello"}),
    ("M2", "main", 1, ["M1"], {"a.safetensors": "w1"}),
    ("M3", "main", 2, ["M2"], {"a.safetensors": "w2"}),
    ("M4", "main", 3, ["M3"], {"a.safetensors": None}),
    ("S1", "side", 4, ["M4"], {"b.safetensors": "w"}),  # added and removed on a side branch:
    ("S2", "side", 5, ["S1"], {"b.safetensors": None}),  # the merge's own diff never shows it
    ("M5", "main", 6, ["M4", "S2"], {}),
    ("M6", "main", 7, ["M5"], {"n.ipynb": "{}"}),
    ("M7", "main", 8, ["M6"], {"x.tmp": "t"}),
    ("R1", "release", 9, ["M6"], {"c.safetensors": "w", "r.ipynb": "{}"}),
    ("M8", "main", 10, ["M7", "R1"], {"c.safetensors": "w", "r.ipynb": "{}"}),
    ("M9", "main", 11, ["M8"], {"weights/d.safetensors": "w", "e.ipynb": "{}"}),
]


def history(root: Path, commits: list[tuple[str, str, int, list[str], dict[str, str | None]]] = COMMITS,
            ) -> tuple[Path, dict[str, str]]:
    """A bare repository holding `commits` (day 0 is 100 days ago) on their branches; mark -> commit id."""
    repo = root / "history.git"
    git("init", "-q", "--bare", "-b", "main", str(repo), cwd=root)
    base = int(time.time()) - 100 * DAY
    stream = bytearray()
    numbers = {mark: n for n, (mark, *_) in enumerate(commits, start=1)}
    for mark, branch, day, parents, files in commits:
        stamp = base + day * DAY
        stream += (f"commit refs/heads/{branch}\nmark :{numbers[mark]}\n"
                   f"author Ann <ann@example.com> {stamp} +0000\ncommitter Ann <ann@example.com> {stamp} +0000\n"
                   f"data {len(mark)}\n{mark}\n").encode()
        if parents:
            stream += f"from :{numbers[parents[0]]}\n".encode()
        for other in parents[1:]:
            stream += f"merge :{numbers[other]}\n".encode()
        for path, content in files.items():
            if content is None:
                stream += f"D {path}\n".encode()
            else:
                stream += f"M 100644 inline {path}\ndata {len(content)}\n{content}\n".encode()
        stream += b"\n"
    git("fast-import", "--quiet", cwd=repo, stdin=bytes(stream))
    oids = {mark: git("rev-parse", f":/^{mark}$", cwd=repo).out.strip() for mark, *_ in commits}
    return repo, oids


def replay(repo: Path, policy: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    proc = policy_cli("replay", "--repo", str(repo), "--policy", str(policy), "--format", "json", *args)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def rules(report: dict[str, Any], oids: dict[str, str]) -> dict[str, tuple[int, set[str], set[str], bool]]:
    """rule -> (updates, commits as marks, paths, denies)."""
    marks = {oid: mark for mark, oid in oids.items()}
    return {r["rule"]: (r["updates"], {marks[c] for c in r["commits"]}, set(r["paths"]), r["denies"])
            for r in report["rules"]}


def setup(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    repo, oids = history(tmp_path)
    return repo, policy, oids


def test_whole_history_of_main_counts_every_violation_by_rule(tmp_path: Path) -> None:
    repo, policy, oids = setup(tmp_path)
    code, report, _ = replay(repo, policy, "--ref", "refs/heads/main")
    assert code == 1
    assert report["updates"] == 9  # M1 (the root creates main) .. M9
    assert report["denied_updates"] == 6  # M2 M3 M5 M6 M8 M9
    assert rules(report, oids) == {
        # S1 added b.safetensors on a side branch that M5 merged: judged, though M5's own diff is empty;
        # M8 merged R1: both R1 and M8 (its diff against the first parent) add c.safetensors
        "no-weights": (5, {"M2", "M3", "S1", "R1", "M8", "M9"},
                       {"a.safetensors", "b.safetensors", "c.safetensors", "weights/d.safetensors"}, True),
        "main-no-notebooks": (3, {"M6", "R1", "M8", "M9"}, {"n.ipynb", "r.ipynb", "e.ipynb"}, True),
        "no-tmp-trial": (1, {"M7"}, {"x.tmp"}, False),  # evaluate mode: a warning, never a denial
    }
    denied = {d["new"] for d in report["details"] if d["denied"]}
    assert denied == {oids[m] for m in ("M2", "M3", "M5", "M6", "M8", "M9")}


def test_default_ref_is_the_head_branch(tmp_path: Path) -> None:
    repo, policy, oids = setup(tmp_path)
    _, report, _ = replay(repo, policy)
    assert report["refs"] == ["refs/heads/main"]
    assert report["updates"] == 9


def test_since_replays_only_recent_updates_and_counts_what_they_bring(tmp_path: Path) -> None:
    """93 days and an hour back reach M6 (day 7); M5, a day older, is what main held when the window opened."""
    repo, policy, oids = setup(tmp_path)
    code, report, _ = replay(repo, policy, "--since", "93d1h")
    assert code == 1
    assert report["updates"] == 4  # M6 M7 M8 M9
    assert report["denied_updates"] == 3  # M6 M8 M9
    assert rules(report, oids) == {
        "no-weights": (2, {"R1", "M8", "M9"}, {"c.safetensors", "weights/d.safetensors"}, True),
        "main-no-notebooks": (3, {"M6", "R1", "M8", "M9"}, {"n.ipynb", "r.ipynb", "e.ipynb"}, True),
        "no-tmp-trial": (1, {"M7"}, {"x.tmp"}, False),
    }


def test_since_with_nothing_recent_replays_nothing(tmp_path: Path) -> None:
    repo, policy, _ = setup(tmp_path)
    code, report, _ = replay(repo, policy, "--since", "1d")
    assert (code, report["updates"], report["denied_updates"], report["rules"]) == (0, 0, 0, [])


def test_several_refs_a_commit_already_on_the_server_is_not_new_to_it_again(tmp_path: Path) -> None:
    """release forks from main at M6, so only R1 is its own step. Once R1 is on the server, M8 (the
    merge into main) brings only itself to a rule without refs:, but R1 and M8 to a main rule."""
    repo, policy, oids = setup(tmp_path)
    code, report, _ = replay(repo, policy, "--ref", "refs/heads/main", "--ref", "refs/heads/release")
    assert code == 1
    assert report["refs"] == ["refs/heads/main", "refs/heads/release"]
    assert report["updates"] == 10  # M1..M9 and R1
    assert report["denied_updates"] == 7  # M2 M3 M5 M6 R1 M8 M9
    assert rules(report, oids) == {
        "no-weights": (6, {"M2", "M3", "S1", "R1", "M8", "M9"},
                       {"a.safetensors", "b.safetensors", "c.safetensors", "weights/d.safetensors"}, True),
        "main-no-notebooks": (3, {"M6", "R1", "M8", "M9"}, {"n.ipynb", "r.ipynb", "e.ipynb"}, True),
        "no-tmp-trial": (1, {"M7"}, {"x.tmp"}, False),
    }
    release = [d for d in report["details"] if d["ref"] == "refs/heads/release"]
    assert [(d["old"], d["new"]) for d in release] == [(oids["M6"], oids["R1"])]
    assert {o["rule"] for o in release[0]["outcomes"]} == {"no-weights"}  # main-no-notebooks is main's only


def test_live_rules_are_reported_not_replayable_by_name(tmp_path: Path) -> None:
    repo, policy, _ = setup(tmp_path)
    _, report, _ = replay(repo, policy)
    skipped = {s["rule"]: s["kind"] for s in report["not_replayable"]}
    assert skipped == {"error-budget": "require.threshold", "eval-no-regression": "require.benchmark"}
    text = policy_cli("replay", "--repo", str(repo), "--policy", str(policy)).stdout
    assert "not replayable: 2 rule(s)" in text
    assert "error-budget (require.threshold)" in text and "eval-no-regression (require.benchmark)" in text


def test_at_stage_merge_a_threshold_is_judged_at_each_update_time_and_a_benchmark_is_not(tmp_path: Path) -> None:
    """With sources.prometheus configured a threshold is asked at each commit's time (here the server is
    unreachable, so on_error denies every update); a benchmark's results cannot be had for the past."""
    repo, policy, oids = setup(tmp_path)
    code, report, _ = replay(repo, policy, "--stage", "merge", "--since", "93d1h")
    assert code == 1
    assert [s["rule"] for s in report["not_replayable"]] == ["eval-no-regression"]
    found = rules(report, oids)
    assert found["error-budget"][0] == 4 and found["error-budget"][3] is True
    assert report["denied_updates"] == 4


def test_text_output_summarises_per_rule_then_details(tmp_path: Path) -> None:
    repo, policy, oids = setup(tmp_path)
    proc = policy_cli("replay", "--repo", str(repo), "--policy", str(policy))
    assert proc.returncode == 1, proc.stderr
    out = proc.stdout
    assert "would have denied 6 of 9 update(s)" in out
    assert "no-weights: 5 update(s), 6 commit(s), 4 path(s)" in out
    assert "main-no-notebooks: 3 update(s), 4 commit(s), 3 path(s)" in out
    assert out.index("no-weights: 5 update(s)") < out.index("details:")
    assert f"refs/heads/main {oids['M4'][:10]}..{oids['M5'][:10]}" in out
    assert "adds b.safetensors" in out  # the side-branch commit is named in the details
    assert "replaying" not in proc.stderr  # no progress bar when stderr is not a terminal


def test_clean_history_exits_0(tmp_path: Path) -> None:
    repo, _, _ = setup(tmp_path)
    policy = tmp_path / "lenient.yml"
    policy.write_text("version: 1\nname: lenient\nrules:\n  - {id: no-gguf, deny_paths: ['*.gguf']}\n")
    code, report, _ = replay(repo, policy)
    assert (code, report["updates"], report["denied_updates"]) == (0, 9, 0)


def test_a_short_or_missing_ref_is_a_usage_error(tmp_path: Path) -> None:
    repo, policy, _ = setup(tmp_path)
    short = policy_cli("replay", "--repo", str(repo), "--policy", str(policy), "--ref", "main")
    assert short.returncode == 2
    assert "not a full ref name: write refs/heads/main" in short.stderr
    missing = policy_cli("replay", "--repo", str(repo), "--policy", str(policy), "--ref", "refs/heads/nope")
    assert missing.returncode == 2
    assert "no ref refs/heads/nope" in missing.stderr
    assert "Traceback" not in short.stderr + missing.stderr


def test_a_missing_or_invalid_policy_and_a_bad_duration_are_clear_errors(tmp_path: Path) -> None:
    repo, policy, _ = setup(tmp_path)
    gone = policy_cli("replay", "--repo", str(repo), "--policy", str(tmp_path / "nope.yml"))
    assert gone.returncode == 2 and "nope.yml" in gone.stderr
    bad = tmp_path / "bad.yml"
    bad.write_text("version: 1\nname: bad\nrules:\n  - {id: x, deny_paths: 3}\n")
    invalid = policy_cli("replay", "--repo", str(repo), "--policy", str(bad))
    assert invalid.returncode == 2 and "bad.yml:4" in invalid.stderr
    since = policy_cli("replay", "--repo", str(repo), "--policy", str(policy), "--since", "90 days")
    assert since.returncode == 2 and "not a Prometheus duration" in since.stderr
    assert "Traceback" not in gone.stderr + invalid.stderr + since.stderr


def test_replay_agrees_with_the_hook_on_real_pushes(tmp_path: Path) -> None:
    """Push a history step by step through a real server whose hook runs the policy in evaluate mode
    (it records what it would deny, and lets every push in), one push per first-parent step, the
    side branch only ever pushed inside its merge. Replaying the enforced policy over the
    resulting main must deny exactly the pushes the hook warned about, rule by rule."""
    enforced = "version: 1\nname: agree\nrules:\n" \
               "  - {id: no-weights, deny_paths: ['*.safetensors']}\n" \
               "  - {id: main-no-notebooks, refs: [refs/heads/main], deny_paths: ['*.ipynb']}\n"
    server = Server(tmp_path, enforced.replace("name: agree\n", "name: agree\nenforcement: evaluate\n"))
    clone = Clone(tmp_path, server)
    pushed = [clone.commit("init", "README.md")]
    assert clone.push("HEAD:refs/heads/main").code == 0

    def push() -> None:
        pushed.append(clone.head())
        result = clone.push("HEAD:refs/heads/main")
        assert result.code == 0, result.out

    clone.commit("weights", "m.safetensors")
    push()
    clone.git("rm", "-q", "m.safetensors")
    clone.commit("drop")
    push()
    clone.git("checkout", "-q", "-b", "topic")
    clone.commit("sneak", "hidden.safetensors", "nb/a.ipynb")
    clone.git("rm", "-q", "hidden.safetensors", "nb/a.ipynb")
    clone.commit("unsneak")
    clone.git("checkout", "-q", "main")
    clone.commit("docs", "docs/x.md")
    clone.git("merge", "-q", "--no-ff", "-m", "merge topic", "topic")
    push()
    clone.commit("notebook", "n.ipynb")
    push()
    warned: dict[str, set[str]] = {}
    for entry in (json.loads(line) for line in server.audit_log.read_text().splitlines()):
        for outcome in entry["outcomes"]:
            if outcome["status"] == "warn":
                warned.setdefault(outcome["rule"], set()).add(entry["updates"][0]["new"])
    assert warned == {"no-weights": {pushed[1], pushed[3]}, "main-no-notebooks": {pushed[3], pushed[4]}}

    policy = tmp_path / "enforced.yml"
    policy.write_text(enforced)
    _, report, _ = replay(server.path, policy, "--ref", "refs/heads/main", "--from", "history")
    assert report["source"] == "history"
    replayed: dict[str, set[str]] = {}
    for detail in report["details"]:
        for outcome in detail["outcomes"]:
            replayed.setdefault(outcome["rule"], set()).add(detail["new"])
    # the replay sees each first-parent step (the merge push brought "docs" and the merge itself:
    # two steps, the merge one carrying topic's commits)
    assert replayed == warned


def test_from_the_audit_log_each_recorded_push_is_judged_as_pushed_by_its_pusher(tmp_path: Path) -> None:
    """A server with an audit log replays its recorded pushes (by default): each push as a whole,
    by the pusher it records, so except.actors exempts whom it names; a push the hook rejected
    left no objects behind and is counted as not judgeable."""
    server = Server(tmp_path, "version: 1\nname: lax\nrules:\n  - {id: no-gguf, deny_paths: ['*.gguf']}\n")
    clone = Clone(tmp_path, server)
    first = clone.commit("init", "README.md")
    assert clone.push("HEAD:refs/heads/main").code == 0
    weights = clone.commit("weights", "w.safetensors")
    notebook = clone.commit("notebook", "n.ipynb")
    assert clone.push("HEAD:refs/heads/main").code == 0  # one push of two commits
    clone.commit("rejected", "r.gguf")
    assert clone.push("HEAD:refs/heads/main").code != 0  # the hook rejects it
    pusher = json.loads(server.audit_log.read_text().splitlines()[0])["actor"]["name"]
    policy = tmp_path / "strict.yml"
    policy.write_text(
        "version: 1\nname: strict\nrules:\n"
        "  - {id: no-weights, deny_paths: ['*.safetensors']}\n"
        f"  - {{id: no-notebooks, deny_paths: ['*.ipynb'], except: {{actors: [{json.dumps(pusher)}]}}}}\n")

    code, report, _ = replay(server.path, policy)
    assert code == 1
    assert report["source"] == f"audit log {server.audit_log}"
    assert report["updates"] == 3  # three recorded pushes
    assert report["denied_updates"] == 1
    assert {r["rule"]: (r["updates"], r["commits"], r["paths"]) for r in report["rules"]} == {
        "no-weights": (1, [weights], ["w.safetensors"])}  # no-notebooks exempts the recorded pusher
    assert [(d["old"], d["new"], d["actor"]) for d in report["details"]] == [(first, notebook, pusher)]
    assert [d["old"] for d in report["not_judgeable"]] == [notebook]

    _, as_someone, _ = replay(server.path, policy, "--actor", "mallory")  # judged as another pusher
    assert {r["rule"] for r in as_someone["rules"]} == {"no-weights", "no-notebooks"}
    _, history, _ = replay(server.path, policy, "--from", "history")  # each commit a step
    assert (history["updates"], history["denied_updates"]) == (3, 2)


def test_from_audit_without_a_log_is_a_usage_error(tmp_path: Path) -> None:
    repo, policy, _ = setup(tmp_path)
    proc = policy_cli("replay", "--repo", str(repo), "--policy", str(policy), "--from", "audit")
    assert proc.returncode == 2 and "has no changegate audit log" in proc.stderr


def test_a_progress_bar_is_drawn_on_a_terminal_only(tmp_path: Path) -> None:
    import os
    import pty
    import subprocess
    import sys

    repo, policy, _ = setup(tmp_path)
    controller, terminal = pty.openpty()
    proc = subprocess.run([sys.executable, "-m", "engine", "replay", "--repo", str(repo), "--policy", str(policy),
                           "--format", "json"], stdout=subprocess.PIPE, stderr=terminal, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    os.close(terminal)
    drawn = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # the terminal's other end is closed: all read
            break
        if not chunk:
            break
        drawn += chunk
    os.close(controller)
    assert proc.returncode == 1
    assert b"replaying" in drawn and b"100%" in drawn
    assert json.loads(proc.stdout)["updates"] == 9  # standard output carries only the report


def test_a_ref_to_a_tree_or_a_detached_head_is_a_usage_error(tmp_path: Path) -> None:
    repo, policy, oids = setup(tmp_path)
    tree = git("rev-parse", f"{oids['M1']}^{{tree}}", cwd=repo).out.strip()
    git("update-ref", "refs/trees/t", tree, cwd=repo)  # a branch cannot hold a tree
    proc = policy_cli("replay", "--repo", str(repo), "--policy", str(policy), "--ref", "refs/trees/t")
    assert proc.returncode == 2 and "refs/trees/t points at a tree, not a commit" in proc.stderr
    git("update-ref", "--no-deref", "HEAD", oids["M9"], cwd=repo)
    detached = policy_cli("replay", "--repo", str(repo), "--policy", str(policy))
    assert detached.returncode == 2 and "HEAD names no branch here" in detached.stderr


def test_approval_rules_are_judged_with_the_notes_as_they_are_now_and_named(tmp_path: Path) -> None:
    """An approval signed today for M8's tree counts for the update that brought M8: history keeps
    no past value of the notes ref, and the report says which rules read records."""
    from tests.helpers.attest import make_key

    repo, _, oids = setup(tmp_path)
    alice = make_key(tmp_path, "alice")
    (tmp_path / "allowed_signers").write_text(f'alice@example.com namespaces="changegate-approval" '
                                              f"{alice.public_line}\n")
    policy = tmp_path / "reviewed.yml"
    policy.write_text("version: 1\nname: reviewed\ntrust: {allowed_signers: allowed_signers}\nrules:\n"
                      "  - id: notebooks-reviewed\n    when: {paths: ['*.ipynb']}\n"
                      "    require: {approvals: {count: 1}}\n")
    approved = policy_cli("approve", oids["M8"], "--repo", str(repo), "--key", str(alice.path),
                          "--ref", "refs/heads/main", "--as", "alice@example.com")
    assert approved.returncode == 0, approved.stderr
    code, report, _ = replay(repo, policy, "--from", "history")
    assert code == 1
    assert report["records_as_now"] == ["notebooks-reviewed"]
    assert rules(report, oids) == {"notebooks-reviewed": (2, {"M6", "M9"}, set(), True)}  # M8 approved today
    text = policy_cli("replay", "--repo", str(repo), "--policy", str(policy)).stdout
    assert "judged with records as they are now" in text and "notebooks-reviewed" in text


def test_several_refs_since_a_merge_of_older_commits_from_another_ref_brings_them(tmp_path: Path) -> None:
    """B was on main before the window opened, not on release; release merging it within the window
    brings B to a release rule (the hook would judge old..new), though the server already had it."""
    policy = tmp_path / "policy.yml"
    policy.write_text("version: 1\nname: release\nrules:\n"
                      "  - {id: release-no-notebooks, refs: [refs/heads/release], deny_paths: ['*.ipynb']}\n"
                      "  - {id: no-notebooks-anywhere, deny_paths: ['*.ipynb']}\n")
    repo, oids = history(tmp_path, [
        ("A", "main", 0, [], {"README.md": "a"}),
        ("R0", "release", 1, ["A"], {"notes.md": "r"}),
        ("B", "main", 2, ["A"], {"n.ipynb": "{}"}),
        ("C", "main", 10, ["B"], {"c.md": "c"}),
        ("R2", "release", 11, ["R0", "B"], {"n.ipynb": "{}"}),
    ])
    code, report, _ = replay(repo, policy, "--ref", "refs/heads/main", "--ref", "refs/heads/release",
                             "--since", "95d")
    assert code == 1
    assert report["updates"] == 2  # C on main, R2 on release
    assert rules(report, oids) == {
        "release-no-notebooks": (1, {"B", "R2"}, {"n.ipynb"}, True),  # B is new to release
        "no-notebooks-anywhere": (1, {"R2"}, {"n.ipynb"}, True),  # but not to the server
    }


def test_a_rule_on_commit_messages_judges_every_commit_a_step_brings(tmp_path: Path) -> None:
    """Messages are read from git for the commits of each step: the merges M5 and M8 bring S1, S2 and
    R1, whose messages do not start with M; an outcome without paths names the step's commit."""
    repo, _, oids = setup(tmp_path)
    policy = tmp_path / "messages.yml"
    policy.write_text("version: 1\nname: messages\nrules:\n"
                      "  - id: main-messages\n    require: {commit_metadata: {message: '^M'}}\n")
    code, report, _ = replay(repo, policy)
    assert code == 1
    assert rules(report, oids) == {"main-messages": (2, {"M5", "M8"}, set(), True)}
    seen = " ".join(line for d in report["details"] for o in d["outcomes"] for line in o["seen"])
    assert all(oids[m][:10] in seen for m in ("S1", "S2", "R1"))
