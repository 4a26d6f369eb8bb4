"""`policy validate`: every problem located at file:line:col, with what is allowed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.policy.limits import MAX_BYTES, MAX_PATTERNS, MAX_RULES
from engine.policy.load import load_policy
from engine.resources import resource
from tests.helpers.repos import policy_cli

GOOD = """version: 1
name: ok
rules:
  - id: protect-main
    refs: ["refs/heads/main"]
    deny: [non_fast_forward]
"""


def validate(tmp_path: Path, text: str) -> tuple[int, str, str]:
    path = tmp_path / "policy.yml"
    path.write_text(text)
    proc = policy_cli("validate", str(path))
    return proc.returncode, proc.stderr.replace(str(path), "P"), proc.stdout


def test_valid_policy_exits_0(tmp_path: Path) -> None:
    code, err, out = validate(tmp_path, GOOD)
    assert code == 0, err
    assert "valid policy 'ok' with 1 rules" in out


def test_bundled_pack_is_valid() -> None:
    proc = policy_cli("validate", resource("policies", "llm-remediation.yml"))
    assert proc.returncode == 0, proc.stderr


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, GOOD + "  - id: [unclosed\n")
    assert code == 2
    assert err.startswith("P:8:") and "YAML syntax" in err


def test_unknown_key_is_located_and_allowed_keys_listed(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, GOOD + "    denny: [deletion]\n")
    assert code == 2
    assert "P:7:5: unknown key 'denny' in rules[0] (id 'protect-main'); allowed keys:" in err
    assert "deny_paths" in err and "refs" in err


def test_unknown_deny_value_lists_allowed_values(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, GOOD.replace("[non_fast_forward]", "[force_push]"))
    assert code == 2
    assert "P:6:12: 'force_push' is not allowed in rules[0] (id 'protect-main').deny[0]" in err
    assert "allowed: non_fast_forward, deletion, creation, update" in err


def test_bad_glob_is_rejected_with_its_position(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, GOOD + "  - id: weights\n    deny_paths: ['ok.bin', 'models/[abc']\n")
    assert code == 2
    assert "P:8:28:" in err and "'models/[abc' can never match" in err


def test_duplicate_rule_id_points_at_the_second(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, GOOD + "  - id: protect-main\n    deny_paths: ['*.bin']\n")
    assert code == 2
    assert "P:7:9: duplicate rule id 'protect-main' (first used by rules[0])" in err


def test_short_ref_name_suggests_the_full_one(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, GOOD.replace('"refs/heads/main"', '"main"'))
    assert code == 2
    assert "must be a full ref name, e.g. 'refs/heads/main'" in err


def test_rule_without_a_kind_says_which_keys_make_one(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, "version: 1\nrules:\n  - id: lonely\n    refs: ['refs/heads/*']\n")
    assert code == 2
    assert ("P:3:5: rules[0] (id 'lonely') must have exactly one of deny, deny_paths, deny_secrets, "
            "deny_unsafe_models, max_file_size, max_path_length, rego, require (found: none)") in err


@pytest.mark.parametrize(("text", "expected"), [
    ("", "the policy file is empty"),
    ("version: 2\nrules: []\n", "version must be 1"),
    ("version: 1\n", "missing required key 'rules'"),
    ("version: 1\nrules:\n  - id: Bad_Id\n    deny: [deletion]\n", "may use only lowercase letters"),
    ("version: 1\nversion: 1\nrules: []\n", "YAML syntax"),  # duplicate keys are refused
    ("version: 1\nrules:\n  - id: x\n    deny: [deletion]\n    enforcement: warn\n", "allowed: enforce, evaluate"),
    ("version: 1\nsources: {prometheus: {url: 'http://p'}}\nrules:\n  - id: x\n    require: {threshold: "
     "{query: up, below: 1, for: 30m1h}}\n", "'30m1h' in rules[0] (id 'x').require.threshold.for is not allowed: "
     "A Prometheus duration"),
    ("version: 1\nrules:\n  - id: x\n    max_file_size: {limit: 10 parsecs}\n",
     "'10 parsecs' in rules[0] (id 'x').max_file_size.limit is not allowed: A size: bytes as an integer"),
])
def test_malformed_policies_are_explained(tmp_path: Path, text: str, expected: str) -> None:
    code, err, _ = validate(tmp_path, text)
    assert code == 2
    assert expected in err


def test_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    proc = policy_cli("validate", str(tmp_path / "absent.yml"))
    assert proc.returncode == 2
    assert "cannot read the policy" in proc.stderr


def test_live_requirements_are_refused_on_push(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, "version: 1\nsources: {prometheus: {url: 'http://127.0.0.1:9090'}}\n"
                                      "rules:\n  - id: errors\n    on: [push, merge]\n"
                                      "    require: {threshold: {query: 'up', above: 0}}\n")
    assert code == 2
    assert "P:5:9: rules[0] (id 'errors'): a threshold rule cannot run on push" in err


def test_requirements_name_the_missing_source_or_trust(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, "version: 1\nrules:\n  - id: errors\n"
                                      "    require: {threshold: {query: 'up', above: 0}}\n"
                                      "  - id: dry-run\n    require: {evidence: {type: dry-run}}\n")
    assert code == 2
    assert "reads prometheus, but sources.prometheus is not configured" in err
    assert "needs trust: {allowed_signers: PATH}" in err


def test_a_requirement_names_exactly_one_kind(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, "version: 1\nrules:\n  - id: two\n"
                                      "    require: {approvals: {count: 1}, evidence: {type: dry-run}}\n")
    assert code == 2 and "two" in err


@pytest.mark.parametrize(("pattern", "why"), [
    ("#weights", "a comment"), ("   ", "empty"), ("!", "can never match"), ("w\\", "can never match"),
    ("[[:nope:]]", "can never match"), ("a[/]b", "can never match"), ("x\0y", "NUL byte"),
])
def test_pattern_git_would_never_match_is_rejected(tmp_path: Path, pattern: str, why: str) -> None:
    code, err, _ = validate(tmp_path, GOOD + f"  - id: weights\n    deny_paths: [{json.dumps(pattern)}]\n")
    assert code == 2
    assert "P:8:18: rules[1].deny_paths:" in err and why in err


def test_path_matching_allows_only_normalized_or_exact(tmp_path: Path) -> None:
    code, err, _ = validate(tmp_path, GOOD + "  - id: weights\n    deny_paths: ['*.bin']\n    path_matching: loose\n")
    assert code == 2
    assert "'loose' is not allowed in rules[1] (id 'weights').path_matching; allowed: normalized, exact" in err


def test_a_valid_policy_at_the_rule_and_pattern_limits_is_accepted(tmp_path: Path) -> None:
    per_rule = MAX_PATTERNS // MAX_RULES
    rules = "".join(f"  - id: r{i}\n    refs: ['refs/heads/main']\n    deny_paths: ["
                    + ", ".join(f"'t{i}/**/*.e{j}'" for j in range(per_rule - 1)) + "]\n" for i in range(MAX_RULES))
    code, err, out = validate(tmp_path, "version: 1\nname: big\nrules:\n" + rules)
    assert code == 0, err
    assert f"valid policy 'big' with {MAX_RULES} rules" in out


def test_the_bundled_pack_fits_the_limits_with_room() -> None:
    with open(resource("policies", "llm-remediation.yml"), "rb") as f:
        data = f.read()
    _, policy = load_policy(data, "pack")
    assert len(data) < MAX_BYTES // 50 and len(policy["rules"]) < MAX_RULES // 50


BENCHMARK = """version: 1
trust: {{allowed_signers: .changegate/allowed_signers}}
rules:
  - id: bench
    on: [merge]
    require:
      benchmark:
        metric: acc
        {body}
"""


@pytest.mark.parametrize(("body", "expected"), [
    # `format` belongs to the rule, not inside results: the {file: ...} form is the one meant
    ("results: {file: results.json, format: lm-eval}",
     "P:9:39: unknown key 'format' in rules[0] (id 'bench').require.benchmark.results; allowed keys: file, key, "
     "n_key, samples, stderr_key (results has 5 allowed forms; the one most likely meant is {file: ...})"),
    ("results: {mlflow: {run: abc}}",
     "unknown key 'run' in rules[0] (id 'bench').require.benchmark.results.mlflow; allowed keys: experiment_ids, "
     "filter, mode, model, run_id, run_name (results has 5 allowed forms; the one most likely meant is {mlflow: ...})"),
    ("results: refs/heads/x\n        baseline: heads/main",
     "'heads/main' in rules[0] (id 'bench').require.benchmark.baseline is not allowed"),
    ("results: evidence\n        max_regression: '2 %'",
     "(max_regression has 2 allowed forms; the one most likely meant is a string matching ^[0-9]+(\\.[0-9]+)?%$)"),
])
def test_a_value_valid_under_no_form_names_the_form_meant_and_the_wrong_key(tmp_path: Path, body: str,
                                                                            expected: str) -> None:
    code, err, _ = validate(tmp_path, BENCHMARK.format(body=body))
    assert code == 2
    assert expected in err, err
    assert "is not valid under any of the given schemas" not in err
