"""A real MLflow tracking server for tests, and a REST logger that needs no `mlflow` import.

The server runs from its own venv (``scripts/ensure-mlflow`` creates it; MLflow is ~850
MB and must not enter the test venv) with a SQLite store in a temporary directory, on a
loopback port, and is stopped by its process group id at the end of the session, even
when tests fail. Runs and metric histories are logged through the REST API itself, so
the tests exercise the same wire format the engine reads.
"""

from __future__ import annotations

import os
import pwd
import signal
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import requests

INSTALL_HINT = (
    "run scripts/ensure-mlflow (creates the dedicated MLflow venv, ~850 MB, about a minute)"
)
STARTUP_TIMEOUT = 120.0  # seconds; the first start migrates the database (~12 s here)
API = "/api/2.0/mlflow"


def mlflow_executable() -> Path:
    """Where scripts/ensure-mlflow puts the server, honouring CHANGEGATE_MLFLOW_VENV.

    The real home directory comes from the password database: tests run with HOME
    pointed at a temporary directory.
    """
    venv = os.environ.get("CHANGEGATE_MLFLOW_VENV")
    if venv:
        return Path(venv) / "bin" / "mlflow"
    home = Path(pwd.getpwuid(os.getuid()).pw_dir)
    return home / ".cache" / "changegate" / "mlflow-venv" / "bin" / "mlflow"


def free_port() -> int:
    """A loopback port nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class MlflowServer(NamedTuple):
    url: str
    pid: int
    log: Path
    auth: tuple[str, str] | None = None  # basic-auth credentials the server demands


AUTH_ADMIN = ("admin", "changegate-test-admin-1")  # the basic-auth server's first admin


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """Start `mlflow server` on 127.0.0.1 with a SQLite store; fail (never skip) without it."""
    yield from _serve(tmp_path_factory.mktemp("mlflow"))


@pytest.fixture(scope="session")
def mlflow_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """The same server with MLflow's basic-auth app (`--app-name basic-auth`); admin is AUTH_ADMIN."""
    root = tmp_path_factory.mktemp("mlflow-auth")
    ini = root / "basic_auth.ini"
    ini.write_text(
        "[mlflow]\ndefault_permission = READ\n"
        f"database_uri = sqlite:///{root / 'basic_auth.db'}\n"
        f"admin_username = {AUTH_ADMIN[0]}\nadmin_password = {AUTH_ADMIN[1]}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        # each request otherwise re-derives the password hash (PBKDF2), seconds on a busy machine
        "auth_cache_ttl_seconds = 3600\n"
    )
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_FLASK_SERVER_SECRET_KEY": uuid.uuid4().hex}
    yield from _serve(root, ["--app-name", "basic-auth"], env, auth=AUTH_ADMIN)


def _serve(root: Path, extra: Sequence[str] = (), env_extra: Mapping[str, str] | None = None,
           auth: tuple[str, str] | None = None) -> Iterator[MlflowServer]:
    exe = mlflow_executable()
    if not os.access(exe, os.X_OK):
        pytest.fail(f"no MLflow server at {exe}: {INSTALL_HINT}", pytrace=False)
    port = free_port()
    log = root / "server.log"
    env = {**os.environ, "HOME": str(root), **(env_extra or {})}  # whatever MLflow caches stays in the tmp dir
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                str(exe), "server",
                "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
                "--default-artifact-root", (root / "artifacts").as_uri(),
                "--host", "127.0.0.1",
                "--port", str(port),
                "--workers", "1",
                *extra,
            ],
            cwd=root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopping it stops its workers
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(proc, url, log)
        yield MlflowServer(url, proc.pid, log, auth)
    finally:
        _stop(proc)


def _wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(
                f"mlflow server exited with {proc.returncode} before answering:\n"
                f"{_tail(log)}",
                pytrace=False,
            )
        try:
            if requests.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.25)
    pytest.fail(
        f"mlflow server at {url} did not answer /health within {STARTUP_TIMEOUT:g} s:\n"
        f"{_tail(log)}",
        pytrace=False,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop the server's process group (uvicorn spawns workers), politely then firmly."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
    # Workers that outlived their parent still carry its group id.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class MlflowLogger:
    """Writes experiments, runs and metrics over MLflow's REST API (tests only)."""

    def __init__(self, url: str, auth: tuple[str, str] | None = None) -> None:
        self.url = url
        self.auth = auth

    def _post(self, path: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        response = requests.post(f"{self.url}{API}{path}", json=payload, timeout=60, auth=self.auth)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
        body: dict[str, Any] = response.json()
        return body

    def experiment(self, prefix: str = "exp") -> str:
        """A fresh experiment, so each test sees only its own runs."""
        body = self._post("/experiments/create", {"name": f"{prefix}-{uuid.uuid4().hex}"})
        return str(body["experiment_id"])

    def run(
        self,
        experiment_id: str,
        *,
        name: str,
        tags: Mapping[str, str] | None = None,
        start_time: int | None = None,
        metrics: Mapping[str, Sequence[float]] | None = None,
    ) -> str:
        """Create a run and log each metric's values as steps 0, 1, 2 ... (its history)."""
        body = self._post(
            "/runs/create",
            {
                "experiment_id": experiment_id,
                "run_name": name,
                "start_time": start_time if start_time is not None else int(time.time() * 1000),
                "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
            },
        )
        run_id = str(body["run"]["info"]["run_id"])
        points = [
            {"key": key, "value": value, "step": step, "timestamp": 1_700_000_000_000 + step}
            for key, values in (metrics or {}).items()
            for step, value in enumerate(values)
        ]
        for start in range(0, len(points), 1000):  # the server takes 1000 per batch
            self._post("/runs/log-batch", {"run_id": run_id, "metrics": points[start:start + 1000]})
        return run_id

    def register(self, name: str, run_id: str, *, alias: str | None = None) -> str:
        """Register the run's model as a new version of `name` (created on first use); its version."""
        found = requests.get(f"{self.url}{API}/registered-models/get", params={"name": name}, timeout=60,
                             auth=self.auth)
        if found.status_code != 200:
            self._post("/registered-models/create", {"name": name})
        body = self._post("/model-versions/create",
                          {"name": name, "source": f"runs:/{run_id}/model", "run_id": run_id})
        version = str(body["model_version"]["version"])
        if alias is not None:
            self._post("/registered-models/alias", {"name": name, "alias": alias, "version": version})
        return version

    def log_metric(self, run_id: str, key: str, value: float, step: int) -> None:
        """Log one more value, the way a training or eval loop does."""
        self._post(
            "/runs/log-metric",
            {"run_id": run_id, "key": key, "value": value, "step": step,
             "timestamp": 1_700_000_000_000 + step},
        )


class FlakyServer(NamedTuple):
    url: str
    requests_seen: list[str]


@contextmanager
def flaky_server(failures: int, status: int = 503) -> Iterator[FlakyServer]:
    """A loopback HTTP server that answers `status` `failures` times, then an empty search.

    MLflow does not fail on demand; this stands in for a proxy or a restarting server in
    front of it, to prove the client's bounded retries. It is the transport the client
    talks to, not a stand-in for the client under test.
    """
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            seen.append(self.path)
            if len(seen) <= failures:
                body = b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "try later"}'
                self.send_response(status)
            else:
                body = b"{}"
                self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FlakyServer(f"http://127.0.0.1:{server.server_address[1]}", seen)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
