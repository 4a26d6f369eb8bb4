"""`policy test`: described changes judged offline by the real engine, reported like a test runner."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from ruamel.yaml import YAML

from engine.resources import resource
from tests.helpers.repos import policy_cli

POLICY = """\
version: 1
name: small
rules:
  - id: protect-main
    refs: ["refs/heads/main"]
    deny: [non_fast_forward, deletion]
  - id: no-weights
    deny_paths: ["*.safetensors"]
    message: "Weights belong in the registry."
"""
BASE = """\
version: 1
defaults:
  refs: {refs/heads/main: base}
  commits:
    - {id: base, files: {README.md: "hi\\n"}}
cases:
"""


def write(tmp_path: Path, tests: str, policy: str = POLICY, name: str = "policy") -> Path:
    (tmp_path / f"{name}.yml").write_text(policy)
    path = tmp_path / f"{name}.tests.yml"
    path.write_text(textwrap.dedent(tests))
    return path


def test_bundled_pack_passes_every_case() -> None:
    pack = resource("policies", "llm-remediation.tests.yml")
    cases = YAML(typ="safe").load(Path(pack).read_text())["cases"]
    proc = policy_cli("test", str(Path(pack).parent))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == f"{len(cases)} passed, 0 failed\n"


def test_bundled_pack_has_an_allowing_and_a_denying_case_for_every_rule() -> None:
    policy = YAML(typ="safe").load(Path(resource("policies", "llm-remediation.yml")).read_text())
    cases = YAML(typ="safe").load(Path(resource("policies", "llm-remediation.tests.yml")).read_text())["cases"]
    expected: dict[str, set[str]] = {}
    for case in cases:
        for rule, status in case["expect"].get("rules", {}).items():
            expected.setdefault(rule, set()).add(status)
    for rule in policy["rules"]:
        statuses = expected.get(rule["id"], set())
        assert statuses & {"pass", "skip"}, f"{rule['id']} has no case it allows"
        assert statuses & {"fail", "warn"}, f"{rule['id']} has no case it denies (or warns about)"


FAILING = BASE + """\
  - name: weights are denied
    commits: [{id: c1, files: {m.safetensors: {size: 10}}}]
    updates: [{ref: refs/heads/main, new: c1}]
    expect: {decision: deny, rules: {no-weights: fail}}
  - name: wrongly expected to pass
    commits: [{id: c1, files: {m.safetensors: "w"}}]
    updates: [{ref: refs/heads/main, new: c1}]
    expect:
      decision: allow
      rules: {no-weights: pass, protect-main: pass}
  - name: wrongly expected to fail
    commits: [{id: c1, files: {docs/a.md: "a"}}]
    updates: [{ref: refs/heads/main, new: c1}]
    expect: {rules: {protect-main: fail}}
"""


def test_failing_cases_print_each_difference_then_the_counts(tmp_path: Path) -> None:
    path = write(tmp_path, FAILING)
    proc = policy_cli("test", str(path))
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"FAIL {path}:11: wrongly expected to pass",
        "  decision: expected allow, got deny (denied by no-weights [fail])",
        "  no-weights: expected pass, got fail (Weights belong in the registry. (1 denied path change(s) "
        "in new commits))",
        f"FAIL {path}:17: wrongly expected to fail",
        "  protect-main: expected fail, got pass (no ref was force-pushed (non-fast-forward) or deleted)",
        "1 passed, 2 failed",
    ]


def test_json_format_lists_every_case_with_its_outcomes(tmp_path: Path) -> None:
    path = write(tmp_path, FAILING)
    proc = policy_cli("test", str(path), "--format", "json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert (report["passed"], report["failed"]) == (1, 2)
    first, second, third = report["cases"]
    assert first["passed"] and first["decision"] == "deny" and first["differences"] == []
    assert {o["rule"]: o["status"] for o in first["outcomes"]} == {"protect-main": "pass", "no-weights": "fail"}
    assert [(d["what"], d["rule"], d["expected"], d["actual"]) for d in second["differences"]] == [
        ("decision", None, "allow", "deny"), ("rule", "no-weights", "pass", "fail")]
    assert third["line"] == 17 and third["differences"][0]["line"] == 20


def test_verbose_lists_passing_cases(tmp_path: Path) -> None:
    path = write(tmp_path, FAILING)
    proc = policy_cli("test", "-v", str(path))
    assert proc.stdout.splitlines()[0] == f"PASS {path}:7: weights are denied"


def invalid(tmp_path: Path, tests: str) -> list[str]:
    path = write(tmp_path, tests)
    proc = policy_cli("test", str(path))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == ""
    return [line.replace(str(path), "T") for line in proc.stderr.splitlines()]


def test_unknown_key_is_located_and_lists_the_allowed_keys(tmp_path: Path) -> None:
    errors = invalid(tmp_path, BASE + """\
  - name: typo
    update: [{ref: refs/heads/main, new: base}]
    expect: {decision: allow}
""")
    assert errors[0].startswith("T:7:5: cases[0] is missing required key 'updates'")
    assert errors[1].startswith("T:8:5: unknown key 'update' in cases[0]; "
                                "allowed keys: actor, approvals, bypass, commits")


def test_a_commit_that_is_not_described_is_located(tmp_path: Path) -> None:
    assert invalid(tmp_path, BASE + """\
  - name: missing commit
    updates: [{ref: refs/heads/main, new: c9}]
    expect: {decision: allow}
""") == ["T:8:43: updates[0].new: commit 'c9' is not described"]


def test_an_old_value_other_than_the_refs_current_one_is_located(tmp_path: Path) -> None:
    assert invalid(tmp_path, BASE + """\
  - name: stale old
    commits: [{id: c1}]
    updates: [{ref: refs/heads/main, old: c1, new: c1}, {ref: refs/heads/new, old: base, new: c1}]
    expect: {decision: allow}
""") == ["T:9:43: updates[0].old: refs/heads/main is 'base' before the change (refs:), and a push always updates "
         "a ref from its current value; leave old out",
         "T:9:84: updates[1].old: refs/heads/new does not exist before the change (refs:), and a push always "
         "updates a ref from its current value; leave old out"]


def test_an_expected_rule_the_policy_lacks_is_located(tmp_path: Path) -> None:
    assert invalid(tmp_path, BASE + """\
  - name: rule typo
    updates: [{ref: refs/heads/main, new: base}]
    expect: {rules: {no-weight: pass}}
""") == ["T:9:22: rule 'no-weight' is not in the policy "
         f"{tmp_path / 'policy.yml'} (its rules: protect-main, no-weights, changegate-records)"]


def test_deleting_a_file_the_parent_lacks_is_located(tmp_path: Path) -> None:
    assert invalid(tmp_path, BASE + """\
  - name: bad files
    commits:
      - id: c1
        files:
          gone.txt: null
    updates: [{ref: refs/heads/main, new: c1}]
    expect: {decision: allow}
""") == ["T:11:11: commit 'c1' deletes 'gone.txt', which its first parent does not have"]


def test_a_bad_size_is_located_and_says_what_is_allowed(tmp_path: Path) -> None:
    assert invalid(tmp_path, BASE + """\
  - name: bad size
    commits: [{id: c1, files: {big.bin: {size: 12 parsecs}}}]
    updates: [{ref: refs/heads/main, new: c1}]
    expect: {decision: allow}
""") == ["T:8:48: '12 parsecs' in cases[0].commits[0] (id 'c1').files.big.bin.size is not allowed: The file's "
         "size: bytes, or a number and a unit (B, KB, MB, GB, KiB, MiB, GiB), e.g. 60MiB"]


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    errors = invalid(tmp_path, BASE + "  - name: [unclosed\n")
    assert len(errors) == 1 and errors[0].startswith("T:8:1:") and "YAML syntax" in errors[0]


def test_an_invalid_policy_is_reported_with_its_location(tmp_path: Path) -> None:
    path = write(tmp_path, FAILING, policy=POLICY.replace("deny: [non_fast_forward", "deny: [sideways"))
    proc = policy_cli("test", str(path))
    assert proc.returncode == 2
    assert (f"{tmp_path / 'policy.yml'}:6:12: 'sideways' is not allowed in rules[0] (id 'protect-main').deny[0]; "
            "allowed: non_fast_forward, deletion") in proc.stderr


def test_a_path_without_tests_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "policy.yml").write_text(POLICY)
    proc = policy_cli("test", str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: no test files in {tmp_path}")


def test_a_tests_folder_beside_the_policy_is_found_from_the_policy(tmp_path: Path) -> None:
    (tmp_path / "policy.yml").write_text(POLICY)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "weights.yml").write_text(FAILING)
    (tmp_path / "tests" / "other.yml").write_text(FAILING.replace("version: 1\n", "version: 1\npolicy: ../x.yml\n"))
    proc = policy_cli("test", str(tmp_path / "policy.yml"))
    assert proc.returncode == 1
    assert proc.stdout.splitlines()[-1] == "1 passed, 2 failed"  # weights.yml only: other.yml names another policy


LIVE_POLICY = """\
version: 1
name: live
trust: {allowed_signers: allowed_signers}
sources:
  prometheus: {url: "http://127.0.0.1:9"}
rules:
  - id: prompts-reviewed
    refs: ["refs/heads/main"]
    when: {paths: ["prompts/**"]}
    require:
      approvals: {count: 1, from: {signers: [alice@example.com, bob@example.com]}}
  - id: dry-run-passed
    on: [merge]
    require:
      evidence: {type: dry-run, max_age: 7d}
  - id: error-budget
    require:
      threshold: {source: prometheus, query: "errors / requests", below: 0.05, for: 5m}
  - id: accuracy
    require:
      benchmark: {results: evidence, metric: "hellaswag:acc", min: 0.8}
  - id: latency
    require:
      benchmark: {results: {file: results/bench.json}, format: json, metric: p95_ms, max: 200,
                  higher_is_better: false}
"""
LIVE_TESTS = """\
version: 1
defaults:
  stage: merge
  refs: {refs/heads/main: base}
  commits:
    - {id: base, files: {prompts/system.txt: "Be kind.\\n"}}
    - {id: c1, author: "Ann Author <ann@example.com>", files: {prompts/system.txt: "Be very kind.\\n"}}
cases:
  - name: everything in order
    updates: [{ref: refs/heads/main, new: c1}]
    approvals: [{by: alice@example.com}]
    evidence: [{age: 1h, metrics: {"hellaswag:acc": 0.85}}]
    metrics: {"errors / requests": 0.01}
    workdir: {results/bench.json: {p95_ms: 150}}
    expect:
      decision: allow
      rules: {prompts-reviewed: pass, dry-run-passed: pass, error-budget: pass, accuracy: pass, latency: pass}
  - name: everything out of order
    actor: alice@example.com
    updates: [{ref: refs/heads/main, new: c1}]
    approvals: [{by: alice@example.com}, {by: bob@example.com, decision: request_changes}]
    evidence: [{age: 8d, metrics: {"hellaswag:acc": 0.7}}]
    metrics: {"errors / requests": 0.2}
    workdir: {results/bench.json: {p95_ms: 250}}
    expect:
      decision: deny
      rules: {prompts-reviewed: fail, dry-run-passed: fail, error-budget: fail, accuracy: fail, latency: fail}
  - name: what is not described fails closed
    updates: [{ref: refs/heads/main, new: c1}]
    metrics: {"other query": 0.0}
    expect:
      decision: deny
      rules: {prompts-reviewed: fail, dry-run-passed: fail, error-budget: error, accuracy: error, latency: error}
  - name: no data for the query denies by default
    updates: [{ref: refs/heads/main, new: c1}]
    metrics: {"errors / requests": null}
    expect: {rules: {error-budget: fail}}
  - name: approval of another tree does not count
    commits: [{id: c2, files: {prompts/system.txt: "Be kinder.\\n"}}]
    updates: [{ref: refs/heads/main, new: c2}]
    approvals: [{by: bob@example.com, commit: c1}]
    expect: {rules: {prompts-reviewed: fail}}
"""


def test_approvals_evidence_metrics_and_results_are_judged_as_described(tmp_path: Path) -> None:
    path = write(tmp_path, LIVE_TESTS, policy=LIVE_POLICY)
    proc = policy_cli("test", str(path), "--format", "json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cases = {c["name"]: {o["rule"]: o for o in c["outcomes"]} for c in json.loads(proc.stdout)["cases"]}
    assert "valid approval" in cases["everything in order"]["prompts-reviewed"]["message"]
    out_of_order = cases["everything out of order"]
    assert "changes requested by bob@example.com" in out_of_order["prompts-reviewed"]["message"]
    assert "0.2 is not below 0.05" in out_of_order["error-budget"]["message"]
    silent = cases["what is not described fails closed"]
    assert "no value is described for the query 'errors / requests'" in silent["error-budget"]["message"]
    assert "results/bench.json does not exist" in silent["latency"]["message"]
    assert "no data" in cases["no data for the query denies by default"]["error-budget"]["message"]


IDENTITIES_POLICY = """\
version: 1
name: identities
trust: {allowed_signers: allowed_signers, identities: identities.yml}
rules:
  - id: reviewed
    require:
      approvals: {count: 1}
"""
IDENTITIES_TESTS = """\
version: 1
cases:
  - name: bob approves his own commit under his signing principal
    commits: [{id: c1, author: "Bob Builder <bob@home.example>", files: {a.txt: "a"}}]
    updates: [{ref: refs/heads/main, new: c1}]
    approvals: [{by: bob@corp.example}]
    expect: {decision: deny, rules: {reviewed: fail}}
  - name: alice approves bob's commit
    commits: [{id: c1, author: "Bob Builder <bob@home.example>", files: {a.txt: "a"}}]
    updates: [{ref: refs/heads/main, new: c1}]
    approvals: [{by: alice@corp.example}]
    expect: {decision: allow, rules: {reviewed: pass}}
"""


def test_the_identities_file_beside_the_policy_maps_people(tmp_path: Path) -> None:
    path = write(tmp_path, IDENTITIES_TESTS, policy=IDENTITIES_POLICY)
    proc = policy_cli("test", str(path))
    assert proc.returncode == 2  # the policy names an identities file that is not there
    assert f"the identities file {tmp_path / 'identities.yml'} (trust.identities) does not exist" in proc.stderr
    (tmp_path / "identities.yml").write_text(
        "version: 1\npeople:\n  bob: {emails: [bob@home.example], principals: [bob@corp.example]}\n"
        "  alice: {principals: [alice@corp.example]}\n")
    proc = policy_cli("test", str(path))
    assert (proc.returncode, proc.stdout) == (0, "2 passed, 0 failed\n"), proc.stdout + proc.stderr


def test_the_examples_of_the_readme_and_the_docs_pass_against_the_bundled_pack(tmp_path: Path) -> None:
    import re

    root = Path(__file__).parents[2]
    [readme] = re.findall(r"```yaml\n(# policy\.tests\.yml.*?)```", (root / "README.md").read_text(), re.S)
    docs = re.findall(r"```yaml\n(version: 1\n.*?)```", (root / "docs" / "policy-tests.md").read_text(), re.S)[0]
    pack = resource("policies", "llm-remediation.yml")
    for name, example in (("readme", readme), ("docs", re.sub(r"\npolicy: .*\n", "\n", docs))):
        path = tmp_path / f"{name}.tests.yml"
        path.write_text(example.replace("version: 1\n", f"version: 1\npolicy: {pack}\n", 1))
        proc = policy_cli("test", str(path))
        assert (proc.returncode, proc.stdout) == (0, "1 passed, 0 failed\n"), proc.stdout + proc.stderr


def test_the_published_test_schema_is_valid_json_schema() -> None:
    import jsonschema

    schema = json.loads(Path(resource("policies", "schema", "policy-tests.schema.json")).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    pack = YAML(typ="safe").load(Path(resource("policies", "llm-remediation.tests.yml")).read_text())
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(pack)) == []


def test_a_policy_the_tests_name_that_does_not_exist_is_located(tmp_path: Path) -> None:
    assert invalid(tmp_path, FAILING.replace("version: 1\n", "version: 1\npolicy: missing.yml\n")) == [
        f"T:2:9: policy 'missing.yml' does not exist (looked for {tmp_path / 'missing.yml'})"]


def test_a_problem_in_the_defaults_is_reported_once(tmp_path: Path) -> None:
    assert invalid(tmp_path, BASE.replace("{id: base,", "{id: base, parents: [ghost],") + """\
  - name: one
    updates: [{ref: refs/heads/main, new: base}]
    expect: {decision: allow}
  - name: two
    updates: [{ref: refs/heads/main, new: base}]
    expect: {decision: allow}
""") == ["T:5:27: commit 'base': parent 'ghost' is not described before it (list parents before their children)"]


def test_a_break_glass_request_is_judged_like_a_push_option(tmp_path: Path) -> None:
    policy = POLICY + "bypass: {actors: [alice], rules: [no-weights]}\n"
    path = write(tmp_path, BASE + """\
  - name: alice bypasses with a reason
    actor: alice
    bypass: "INC-1: restore the weights"
    commits: [{id: c1, files: {m.safetensors: "w"}}]
    updates: [{ref: refs/heads/main, new: c1}]
    expect: {decision: allow, rules: {no-weights: bypassed}}
  - name: bob may not
    actor: bob
    bypass: "INC-1: restore the weights"
    commits: [{id: c1, files: {m.safetensors: "w"}}]
    updates: [{ref: refs/heads/main, new: c1}]
    expect: {decision: deny, rules: {no-weights: fail}}
  - name: no reason, no bypass
    actor: alice
    bypass: ""
    commits: [{id: c1, files: {m.safetensors: "w"}}]
    updates: [{ref: refs/heads/main, new: c1}]
    expect: {decision: allow}
""", policy=policy)
    proc = policy_cli("test", str(path))
    assert proc.returncode == 1
    assert proc.stdout.splitlines() == [
        f"FAIL {path}:19: no reason, no bypass",
        "  decision: expected allow, got deny (denied by no-weights [fail])",
        "2 passed, 1 failed",
    ]


def test_commit_messages_and_signatures_are_judged_as_described(tmp_path: Path) -> None:
    policy = """\
version: 1
name: commits
trust: {allowed_signers: allowed_signers}
rules:
  - id: signed
    require: {signed_commits: {}}
  - id: ticket
    require: {commit_metadata: {message: '^[A-Z]+-[0-9]+: '}}
"""
    (tmp_path / "allowed_signers").write_text(
        "alice ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    path = write(tmp_path, BASE + """\
  - name: signed, with a ticket
    commits: [{id: c1, message: "ML-7: tune", signature: {signer: alice}, files: {a.txt: "a"}}]
    updates: [{ref: refs/heads/main, new: c1}]
    expect: {decision: allow, rules: {signed: pass, ticket: pass}}
  - name: unsigned, no ticket
    commits: [{id: c1, message: "tune", files: {a.txt: "a"}}]
    updates: [{ref: refs/heads/main, new: c1}]
    expect: {decision: deny, rules: {signed: fail, ticket: fail}}
  - name: untrusted key
    commits: [{id: c1, message: "ML-7: tune", signature: {status: U}, files: {a.txt: "a"}}]
    updates: [{ref: refs/heads/main, new: c1}]
    expect: {decision: deny, rules: {signed: fail, ticket: pass}}
""", policy=policy)
    proc = policy_cli("test", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == "3 passed, 0 failed\n"


REGO = """\
package changegate

import rego.v1

deny contains msg if {
	some p in input.paths
	endswith(p.path, ".pkl")
	msg := sprintf("%s: pickles run code on load", [p.path])
}

test_pickle_denied if {
	count(deny) == 1 with input.paths as [{"path": "m.pkl"}]
}

test_wrongly_expects_nothing if {
	count(deny) == 0 with input.paths as [{"path": "m.pkl"}]
}
"""


def test_rego_modules_own_tests_run_with_the_cases(tmp_path: Path) -> None:
    (tmp_path / "conventions.rego").write_text(REGO)
    policy = POLICY + "  - id: conventions\n    rego: {modules: [conventions.rego]}\n"
    path = write(tmp_path, BASE + """\
  - name: a pickle is denied by the Rego rule
    commits: [{id: c1, files: {m.pkl: "x"}}]
    updates: [{ref: refs/heads/main, new: c1}]
    expect: {decision: deny, rules: {conventions: fail}}
""", policy=policy)
    proc = policy_cli("test", str(path))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rego = tmp_path / "conventions.rego"
    assert proc.stdout.splitlines() == [
        f"FAIL {rego}:15: data.changegate.test_wrongly_expects_nothing (rule conventions)",
        "  decision: expected true, got undefined",
        "2 passed, 1 failed",
    ]
    (tmp_path / "conventions.rego").write_text(REGO.replace("deny contains", "deny contains oops"))
    proc = policy_cli("test", str(path))
    assert proc.returncode == 1
    assert f"FAIL {tmp_path / 'policy.yml'}:" in proc.stdout and ": rule conventions: Rego tests" in proc.stdout
