"""`policy replay --stage merge` asks a real Prometheus about each update at that update's time.

The server holds backfilled history (tests/helpers/prometheus.py); the repository's commits
are dated inside it, so a threshold that held in the first hour and broke in the second
denies exactly the updates of the second hour.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.prometheus import HISTORY, STEP, History, SeriesSpec, make_history, running_prometheus
from tests.helpers.repos import git, policy_cli

MINUTE = 60


def test_a_threshold_is_judged_at_each_update_time(tmp_path: Path) -> None:
    base = make_history()
    end = base.end
    times = [end - HISTORY + STEP * i for i in range(HISTORY // STEP + 1)]
    ratio = SeriesSpec("replay_error_ratio", (("service", "bot"),), "gauge",
                       tuple(0.5 if t - end > -60 * MINUTE else 0.01 for t in times))
    history = History(end - HISTORY, end, (ratio,))
    repo = tmp_path / "repo.git"
    git("init", "-q", "--bare", "-b", "main", str(repo), cwd=tmp_path)
    stamps = [end - (110 - 20 * k) * MINUTE for k in range(6)]  # 110, 90, 70, 50, 30, 10 minutes before end
    stream = bytearray()
    for k, stamp in enumerate(stamps):
        stream += (f"commit refs/heads/main\nmark :{k + 1}\ncommitter Ann <ann@example.com> {stamp} +0000\n"
                   f"data 2\nc{k}\n" + (f"from :{k}\n" if k else "")
                   + f"M 100644 inline f{k}.txt\ndata 2\n{k}\n\n").encode()
    git("fast-import", "--quiet", cwd=repo, stdin=bytes(stream))
    commits = git("rev-list", "--reverse", "main", cwd=repo).out.split()

    with running_prometheus(tmp_path / "prometheus", history) as server:
        policy = tmp_path / "policy.yml"
        policy.write_text(f"version: 1\nname: live\nsources:\n  prometheus: {{url: '{server.url}', timeout: 5s}}\n"
                          "rules:\n  - id: error-budget\n    on: [merge]\n"
                          "    require: {threshold: {query: 'replay_error_ratio', below: 0.1}}\n")
        proc = policy_cli("replay", "--repo", str(repo), "--policy", str(policy), "--stage", "merge",
                          "--format", "json")
        pushed = policy_cli("replay", "--repo", str(repo), "--policy", str(policy), "--format", "json")
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["not_replayable"] == []
    assert (report["updates"], report["denied_updates"]) == (6, 3)
    [rule] = report["rules"]
    assert (rule["rule"], rule["updates"], rule["commits"], rule["statuses"]) == (
        "error-budget", 3, commits[3:], {"fail": 3})
    assert all("0.5" in " ".join(o["seen"]) for d in report["details"] for o in d["outcomes"])
    # at stage push (the hook's) the rule never runs: reported, not judged
    assert pushed.returncode == 0, pushed.stderr
    assert [s["rule"] for s in json.loads(pushed.stdout)["not_replayable"]] == ["error-budget"]
