"""A user's install, not the source tree: build the wheel, install it in a fresh venv, run the demo.

Catches files the package needs but the wheel lacks, and paths that only resolve in a
checkout (the hook runs with -S, where sys.prefix is not the virtualenv's).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_wheel_installed_in_a_fresh_venv_runs_the_demo(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(ROOT), "-w", str(wheels)],
                   check=True, capture_output=True)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    [wheel] = wheels.glob("changegate-*.whl")
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], check=True, capture_output=True)
    demo = subprocess.run([str(venv / "bin" / "policy"), "demo"], capture_output=True, text=True, cwd=tmp_path)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "internal error" not in demo.stdout
    assert "[DENY] no-weights-in-git" in demo.stdout
