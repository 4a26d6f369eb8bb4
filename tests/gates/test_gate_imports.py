"""The push hook builds every rule of its policy: these rule kinds must not pull heavy libraries."""

from __future__ import annotations

import subprocess
import sys


def test_rule_modules_import_no_http_stats_or_yaml_library() -> None:
    code = ("import sys, engine.rules.thresholds, engine.rules.benchmarks, engine.commands.rollback_check\n"
            "print(sorted(m for m in ('requests', 'scipy', 'numpy', 'ruamel', 'urllib3') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
