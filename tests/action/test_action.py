"""The GitHub Action's judge step, executed as the runner executes it: bash runs the step's script from
action.yml with the runner's environment, a real event file, a real git checkout of the base branch,
and the fake GitHub API (validated against GitHub's OpenAPI description) for check runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.helpers.fake_github import FakeGitHub
from tests.helpers.repos import git

ROOT = Path(__file__).resolve().parents[2]
POLICY = """version: 1
name: pr-policy
rules:
  - id: no-weights
    deny_paths: ["*.gguf"]
    message: "Model weights belong in the model registry."
  - id: notebooks-trial
    deny_paths: ["*.ipynb"]
    enforcement: evaluate
"""


def judge_step() -> dict[str, Any]:
    action = YAML(typ="safe").load((ROOT / "action.yml").read_text())
    [step] = [s for s in action["runs"]["steps"] if s.get("id") == "judge"]
    return step  # type: ignore[no-any-return]


class Repo:
    """origin (a bare repository with the base branch and the PR's branch) and the runner's checkout."""

    def __init__(self, root: Path, policy: str = POLICY) -> None:
        self.root, self.origin, self.work = root, root / "origin.git", root / "author"
        git("init", "-q", "--bare", "-b", "main", str(self.origin), cwd=root)
        git("clone", "-q", str(self.origin), str(self.work), cwd=root)
        self.write(".changegate/policy.yml", policy)
        self.write("README.md", "# model service\n")
        self.base = self.commit("base")
        git("push", "-q", "origin", "HEAD:refs/heads/main", cwd=self.work)
        git("checkout", "-q", "-b", "feature", cwd=self.work)

    def write(self, path: str | bytes, text: str) -> None:
        full = os.path.join(os.fsencode(self.work), os.fsencode(path) if isinstance(path, str) else path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(text.encode())

    def commit(self, message: str) -> str:
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work).out.strip()

    def open_pr(self) -> str:
        """Commit what is pending and push the branch; the PR's head."""
        if git("status", "--porcelain", cwd=self.work).out.strip():
            self.commit("change")
        head = git("rev-parse", "HEAD", cwd=self.work).out.strip()
        assert head != self.base
        git("push", "-q", "-f", "origin", "HEAD:refs/heads/feature", cwd=self.work)
        return head

    def runner_checkout(self) -> Path:
        """What actions/checkout leaves: the base branch only (the PR's commits are not there)."""
        checkout = self.root / "runner"
        if not checkout.exists():
            git("clone", "-q", "--single-branch", "-b", "main", str(self.origin), str(checkout), cwd=self.root)
        return checkout


def run_action(repo: Repo, fake: FakeGitHub, event_name: str, payload: dict[str, Any], *,
               inputs: dict[str, str] | None = None, token: str = "test-token") -> tuple[int, str, dict[str, str], str]:
    tmp = repo.root / "runner-temp"
    tmp.mkdir(exist_ok=True)
    (tmp / "event.json").write_text(json.dumps(payload))
    for name in ("output", "summary"):
        (tmp / name).write_text("")
    step = judge_step()
    values = {"policy": ".changegate/policy.yml", "stage": "", "check-name": "changegate", "fail-on": "deny",
              "evidence": "", **(inputs or {})}
    env = {**os.environ, "GITHUB_EVENT_NAME": event_name, "GITHUB_EVENT_PATH": str(tmp / "event.json"),
           "GITHUB_REPOSITORY": "acme/models", "GITHUB_API_URL": fake.url, "GITHUB_OUTPUT": str(tmp / "output"),
           "GITHUB_STEP_SUMMARY": str(tmp / "summary"), "RUNNER_TEMP": str(tmp), "GITHUB_ACTOR": "octocat",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    for name, value in step["env"].items():  # the step's env block, with its ${{ inputs.x }} resolved
        key = value.removeprefix("${{ inputs.").removesuffix(" }}")
        env[name] = token if name == "GITHUB_TOKEN" else values[key]
    proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=repo.runner_checkout(), env=env,
                          capture_output=True, text=True, check=False)
    outputs = dict(line.split("=", 1) for line in (tmp / "output").read_text().splitlines() if "=" in line)
    return proc.returncode, proc.stdout + proc.stderr, outputs, (tmp / "summary").read_text()


def pr_event(repo: Repo, head: str, number: int = 7) -> dict[str, Any]:
    return {"action": "synchronize", "number": number,
            "pull_request": {"number": number, "user": {"login": "dana"},
                             "base": {"ref": "main", "sha": repo.base}, "head": {"ref": "feature", "sha": head}}}


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path)


def test_a_clean_pull_request_is_green(repo: Repo, fake_github: FakeGitHub) -> None:
    repo.write("src/app.py", "print('hi')\n")
    head = repo.open_pr()
    code, out, outputs, summary = run_action(repo, fake_github, "pull_request", pr_event(repo, head))
    assert code == 0, out
    assert outputs["decision"] == "allowed"
    assert json.loads(Path(outputs["report"]).read_text())["allowed"] is True
    [run] = fake_github.check_runs.values()
    assert (run.name, run.head_sha, run.conclusion) == ("changegate", head, "success")
    assert "## changegate: merge allowed" in summary


def test_a_blocked_path_fails_and_is_annotated_on_its_file(repo: Repo, fake_github: FakeGitHub) -> None:
    repo.write("models/support/model.gguf", "weights\n")
    repo.commit("weights")
    repo.write("notes.ipynb", "{}\n")
    head = repo.open_pr()
    code, out, outputs, summary = run_action(repo, fake_github, "pull_request_target", pr_event(repo, head))
    assert code == 1
    assert outputs["decision"] == "denied"
    assert "::error file=models/support/model.gguf,line=1,title=changegate%3A no-weights::" in out
    assert "::warning file=notes.ipynb,line=1,title=changegate%3A notebooks-trial::" in out
    [run] = fake_github.check_runs.values()
    assert run.conclusion == "failure" and run.title == "1 rule(s) failed (pr-policy)"
    assert [(a["path"], a["annotation_level"]) for a in run.annotations] == [
        ("models/support/model.gguf", "failure"), ("notes.ipynb", "warning")]
    assert "| `no-weights` | ❌ fail |" in summary and "Model weights belong in the model registry." in summary


def test_a_pull_request_that_edits_the_policy_is_judged_by_the_base_policy(repo: Repo,
                                                                          fake_github: FakeGitHub) -> None:
    repo.write(".changegate/policy.yml", "version: 1\nname: weak\nrules: [{id: x, deny_paths: ['*.never']}]\n")
    repo.write("model.gguf", "weights\n")
    head = repo.open_pr()
    code, out, outputs, _ = run_action(repo, fake_github, "pull_request", pr_event(repo, head))
    assert code == 1 and outputs["decision"] == "denied"
    assert "no-weights" in out
    assert "::warning file=.changegate/policy.yml,line=1,title=changegate%3A changegate-policy-edited::" in out
    report = json.loads(Path(outputs["report"]).read_text())
    assert report["policy"]["name"] == "pr-policy" and report["policy_edited"] is True


def test_a_hostile_file_name_is_escaped_in_annotations(repo: Repo, fake_github: FakeGitHub) -> None:
    repo.write(b"100%:a,b\nc.gguf", "weights\n")
    head = repo.open_pr()
    code, out, _, _ = run_action(repo, fake_github, "pull_request", pr_event(repo, head))
    assert code == 1
    assert "::error file=100%25%3Aa%2Cb%0Ac.gguf,line=1," in out
    [run] = fake_github.check_runs.values()
    assert run.annotations[0]["path"] == "100%:a,b\nc.gguf"


def test_a_fork_with_a_read_only_token_still_gets_the_verdict(repo: Repo, fake_github: FakeGitHub) -> None:
    repo.write("model.gguf", "weights\n")
    head = repo.open_pr()
    fake_github.inject("/repos/acme/models/check-runs", 403, method="POST",
                       message="Resource not accessible by integration")
    code, out, outputs, summary = run_action(repo, fake_github, "pull_request", pr_event(repo, head))
    assert code == 1 and outputs["decision"] == "denied"
    assert "could not create the check run" in out and "read-only token" in out
    assert not fake_github.check_runs and "no-weights" in summary


def test_merge_queue_entries_are_judged(repo: Repo, fake_github: FakeGitHub) -> None:
    repo.write("model.gguf", "weights\n")
    head = repo.open_pr()
    payload = {"merge_group": {"head_sha": head, "head_ref": "refs/heads/gh-readonly-queue/main/pr-7-" + repo.base,
                               "base_sha": repo.base, "base_ref": "refs/heads/main"}, "sender": {"login": "dana"}}
    code, out, outputs, _ = run_action(repo, fake_github, "merge_group", payload)
    assert code == 1 and outputs["decision"] == "denied"


def test_fail_on_warn_fails_on_evaluate_mode_findings(repo: Repo, fake_github: FakeGitHub) -> None:
    repo.write("analysis.ipynb", "{}\n")
    head = repo.open_pr()
    code, _, outputs, _ = run_action(repo, fake_github, "pull_request", pr_event(repo, head))
    assert code == 0 and outputs["decision"] == "allowed"
    code, _, outputs, _ = run_action(repo, fake_github, "pull_request", pr_event(repo, head),
                                     inputs={"fail-on": "warn"})
    assert code == 1 and outputs["decision"] == "allowed"


def test_action_yml_and_workflows_validate_against_githubs_schemas() -> None:
    checker = Path(sys.executable).parent / "check-jsonschema"
    workflows = sorted(str(p) for p in (ROOT / ".github/workflows").glob("*.yml"))
    for schema, files in (("vendor.github-actions", ["action.yml"]), ("vendor.github-workflows", workflows)):
        proc = subprocess.run([str(checker), "--builtin-schema", schema, *files], cwd=ROOT, capture_output=True,
                              text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr


APPROVALS = POLICY + """  - id: prompts-need-review
    refs: ["refs/heads/main"]
    when: {paths: ["prompts/"]}
    require:
      approvals: {count: 1, from: {users: [alice, bob]}}
"""


def approvals_pr(tmp_path: Path, fake: FakeGitHub) -> tuple[Repo, str]:
    repo = Repo(tmp_path, APPROVALS)
    repo.write("prompts/system.txt", "Be careful.\n")
    head = repo.open_pr()
    fake.add_pull("acme", "models", 7, head_sha=head, base_sha=repo.base, author="dana")
    fake.add_files("acme", "models", 7, ["prompts/system.txt"])
    fake.add_commit("acme", "models", 7, sha=head, author_login="dana")
    return repo, head


def test_an_approved_pull_request_is_green(tmp_path: Path, fake_github: FakeGitHub) -> None:
    repo, head = approvals_pr(tmp_path, fake_github)
    fake_github.add_review("acme", "models", 7, user="alice", state="APPROVED", commit_id=head)
    code, out, outputs, _ = run_action(repo, fake_github, "pull_request_review", pr_event(repo, head))
    assert code == 0, out
    assert outputs["decision"] == "allowed"


def test_a_missing_approval_is_red_with_the_reason(tmp_path: Path, fake_github: FakeGitHub) -> None:
    repo, head = approvals_pr(tmp_path, fake_github)
    code, out, outputs, summary = run_action(repo, fake_github, "pull_request", pr_event(repo, head))
    assert code == 1 and outputs["decision"] == "denied"
    assert "prompts-need-review" in out and "alice" in summary
    [run] = fake_github.check_runs.values()
    assert run.conclusion == "failure" and run.text is not None and "prompts-need-review" in run.text


def test_api_errors_are_retried_then_fail_closed(tmp_path: Path, fake_github: FakeGitHub) -> None:
    repo, head = approvals_pr(tmp_path, fake_github)
    fake_github.add_review("acme", "models", 7, user="alice", state="APPROVED", commit_id=head)
    fake_github.inject("/repos/acme/models/pulls/7/reviews", 429, times=1, headers={"retry-after": "1"})
    code, out, _, _ = run_action(repo, fake_github, "pull_request", pr_event(repo, head))
    assert code == 0, out  # one 429 honoured, then the approval is read
    fake_github.inject("/repos/acme/models/pulls/7", 502, times=20)
    code, out, outputs, _ = run_action(repo, fake_github, "pull_request", pr_event(repo, head))
    assert code == 1 and outputs["decision"] == "denied"  # GitHub unreachable: approvals unproven, fail closed
    assert "prompts-need-review" in out


def test_a_push_event_is_judged_at_the_push_stage(repo: Repo, fake_github: FakeGitHub) -> None:
    repo.write("model.gguf", "weights\n")
    head = repo.open_pr()
    payload = {"ref": "refs/heads/main", "before": repo.base, "after": head, "pusher": {"name": "dana"}}
    code, out, outputs, summary = run_action(repo, fake_github, "push", payload)
    assert code == 1 and outputs["decision"] == "denied"
    assert "## changegate: push denied" in summary
    assert json.loads(Path(outputs["report"]).read_text())["stage"] == "push"


def test_replacement_refs_in_the_checkout_do_not_hide_the_pr_commits(repo: Repo, fake_github: FakeGitHub) -> None:
    """A PR author can publish refs/replace/*: a checkout that fetched them still judges stored objects."""
    repo.write("model.gguf", "weights\n")
    head = repo.open_pr()
    tree = git("rev-parse", f"{repo.base}^{{tree}}", cwd=repo.work).out.strip()
    clean = git("commit-tree", tree, "-p", repo.base, "-m", "change", cwd=repo.work).out.strip()
    git("replace", head, clean, cwd=repo.work)
    git("push", "-q", "origin", f"refs/replace/{head}", cwd=repo.work)
    checkout = repo.runner_checkout()
    git("fetch", "-q", "origin", "refs/replace/*:refs/replace/*", "feature", cwd=checkout)
    code, out, outputs, _ = run_action(repo, fake_github, "pull_request", pr_event(repo, head))
    assert code == 1 and outputs["decision"] == "denied", out
    assert "model.gguf" in out


def test_a_push_that_creates_a_branch_is_judged_by_the_default_branchs_policy(repo: Repo,
                                                                               fake_github: FakeGitHub) -> None:
    repo.write("model.gguf", "weights\n")
    head = repo.open_pr()
    payload = {"ref": "refs/heads/feature", "before": "0" * 40, "after": head, "created": True,
               "repository": {"default_branch": "main"}, "pusher": {"name": "dana"}}
    code, out, outputs, summary = run_action(repo, fake_github, "push", payload)
    assert code == 1 and outputs["decision"] == "denied", out
    assert "no-weights" in summary and "model.gguf" in out
    report = json.loads(Path(outputs["report"]).read_text())
    assert report["policy"]["name"] == "pr-policy"
    [judged] = report["judged"]
    assert judged["ref"] == "refs/heads/feature" and judged["commits"] == [head]  # the commits not on main


def test_a_clean_new_branch_is_allowed(repo: Repo, fake_github: FakeGitHub) -> None:
    repo.write("src/app.py", "print('hi')\n")
    head = repo.open_pr()
    payload = {"ref": "refs/heads/feature", "before": "0" * 40, "after": head,
               "repository": {"default_branch": "main"}, "pusher": {"name": "dana"}}
    code, out, outputs, _ = run_action(repo, fake_github, "push", payload)
    assert code == 0 and outputs["decision"] == "allowed", out


def test_an_invalid_policy_ends_with_error_outputs_and_a_summary(tmp_path: Path, fake_github: FakeGitHub) -> None:
    repo = Repo(tmp_path, "version: 1\nrules:\n  - id: x\n    deny_paths: ['*.gguf']\n    enforcement: warn\n")
    repo.write("src/app.py", "print('hi')\n")
    head = repo.open_pr()
    code, out, outputs, summary = run_action(repo, fake_github, "pull_request", pr_event(repo, head))
    assert code == 2
    assert outputs["decision"] == "error"
    report = json.loads(Path(outputs["report"]).read_text())
    assert report["decision"] == "error" and report["allowed"] is False
    assert "allowed: enforce, evaluate" in report["problems"][0]
    assert "## changegate: error: invalid policy" in summary and "allowed: enforce, evaluate" in summary
    assert "::error title=changegate%3A invalid policy::" in out


def test_an_unsupported_event_ends_with_error_outputs_and_a_summary(repo: Repo, fake_github: FakeGitHub) -> None:
    code, out, outputs, summary = run_action(repo, fake_github, "issues", {"action": "opened"})
    assert code == 2 and outputs["decision"] == "error"
    assert "event 'issues' is not supported" in summary
    assert json.loads(Path(outputs["report"]).read_text())["error"] == "unsupported event"


def test_the_decision_page_is_written_and_linked_from_the_summary(repo: Repo, fake_github: FakeGitHub) -> None:
    repo.write("model.gguf", "weights\n")
    head = repo.open_pr()
    code, out, outputs, summary = run_action(repo, fake_github, "pull_request", pr_event(repo, head))
    assert code == 1
    page = Path(outputs["page"]).read_text()
    assert "The merge into refs/heads/main is DENIED by policy &#x27;pr-policy&#x27;" in page
    assert "model.gguf" in page
    # the action's next steps: upload-artifact (GitHub's), then the link into the job summary
    action = YAML(typ="safe").load((ROOT / "action.yml").read_text())
    steps = {s.get("id"): s for s in action["runs"]["steps"]}
    assert steps["upload"]["uses"].startswith("actions/upload-artifact@")
    assert steps["upload"]["with"]["path"] == "${{ steps.judge.outputs.page }}"
    assert "always()" in steps["upload"]["if"]  # a denial fails the judge step: the page is uploaded anyway
    summary_file = repo.root / "runner-temp" / "summary"
    url = "https://github.com/acme/models/actions/runs/1/artifacts/2"
    proc = subprocess.run(["bash", "-e", "-c", steps["link"]["run"]], capture_output=True, text=True, check=False,
                          env={**os.environ, "ARTIFACT_URL": url, "GITHUB_STEP_SUMMARY": str(summary_file)})
    assert proc.returncode == 0, proc.stderr
    assert f"**[Decision page]({url})**" in summary_file.read_text()


def test_the_check_run_links_the_workflow_run_that_holds_the_page(repo: Repo, fake_github: FakeGitHub,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_RUN_ID", "4242")
    monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.example.com")
    repo.write("model.gguf", "weights\n")
    head = repo.open_pr()
    code, _, _, _ = run_action(repo, fake_github, "pull_request", pr_event(repo, head))
    assert code == 1
    [run] = fake_github.check_runs.values()
    assert "[Decision page (artifact changegate-decision)](https://github.example.com/acme/models/actions/runs/4242)" \
        in run.summary


def test_a_new_branch_without_a_default_branch_is_an_error_not_an_allow(repo: Repo, fake_github: FakeGitHub) -> None:
    repo.write("src/app.py", "print('hi')\n")
    head = repo.open_pr()
    payload = {"ref": "refs/heads/feature", "before": "0" * 40, "after": head,
               "repository": {"default_branch": "trunk"}, "pusher": {"name": "dana"}}
    code, out, outputs, summary = run_action(repo, fake_github, "push", payload)
    assert code == 2 and outputs["decision"] == "error", out
    assert "refs/heads/trunk cannot be fetched" in summary
