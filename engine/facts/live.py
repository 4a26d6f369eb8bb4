"""The live sources a policy names (Prometheus, MLflow, GitHub, OPA) and the working directory's
files, as facts: rules ask for a client or a file here and never build one themselves.

Credentials come from the entry point's environment, read once into `Inputs.environ`
(engine/change.py); the policy names variables, never values. Clients are built on first
use and kept for the decision, so a policy with five threshold rules talks to one
Prometheus client, and a pull request is read once however many approvals rules ask.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    from engine.change import Inputs
    from engine.facts.approvals import PullFacts
    from engine.facts.interface import PrometheusAPI
    from engine.facts.mlflow import MlflowClient
    from engine.policy.source import PolicySource
    from engine.rego.opa import OpaServer

DEFAULT_TIMEOUT = 10.0


class LiveSources:
    """Mixed into a Facts implementation that has `policy`, `inputs` and `source`."""

    policy: dict[str, Any]
    inputs: Inputs
    source: PolicySource | None
    _pull: PullFacts | None = None

    @property
    def environ(self) -> Mapping[str, str]:
        return self.inputs.environ or {}

    def trusted_location(self, path: str) -> str:
        """How to name a file of the policy's trust domain in a message: REF:PATH, or its path
        beside the administrator's policy file."""
        source = self.source
        if source is not None and source.ref is not None:
            return f"{source.ref}:{path}"
        if source is not None:
            return os.path.join(os.path.dirname(os.path.abspath(source.name)), path)
        return path

    def prometheus(self) -> PrometheusAPI:
        """The client for sources.prometheus; PrometheusError("config") when there is none."""
        from engine.facts.prometheus import PrometheusClient, PrometheusError
        from engine.times import parse_duration

        config = (self.policy.get("sources") or {}).get("prometheus")
        if not config:
            raise PrometheusError("config", "the policy configures no sources.prometheus")
        timeout = parse_duration(config["timeout"]) if config.get("timeout") else DEFAULT_TIMEOUT
        return PrometheusClient(
            config["url"], connect_timeout=min(3.0, timeout), read_timeout=timeout,
            token_env=config.get("token_env"), username_env=config.get("username_env"),
            password_env=config.get("password_env"), environ=self.environ)

    def mlflow(self) -> MlflowClient:
        """A client for sources.mlflow (close it after use); MlflowError when it cannot be built."""
        from engine.facts.mlflow import MlflowClient, MlflowError, mlflow_credentials
        from engine.times import parse_duration

        config = (self.policy.get("sources") or {}).get("mlflow")
        if not config:
            raise MlflowError("the policy configures no sources.mlflow")
        token, basic = mlflow_credentials(config, self.environ)
        timeout = parse_duration(config["timeout"]) if config.get("timeout") else DEFAULT_TIMEOUT
        return MlflowClient(config["url"], timeout=timeout, token=token, basic=basic)

    def opa(self) -> OpaServer:
        """The server of sources.opa; OpaError("config") when there is none or it cannot be asked."""
        from engine.rego.opa import OpaError, OpaServer

        config = (self.policy.get("sources") or {}).get("opa")
        if not config:
            raise OpaError("config", "the policy configures no sources.opa")
        return OpaServer(config, self.environ)

    def github_approvals(self) -> str | None:
        """Why GitHub is the approvals source here (None: signed records are)."""
        from engine.facts.approvals import github_source

        return github_source(self.inputs, self.policy, self.environ)

    def pull_request(self) -> PullFacts:
        """The pull request being judged, read once per decision (errors kept inside)."""
        if self._pull is None:
            from engine.facts.approvals import read_pull

            self._pull = read_pull(self.inputs, self.policy, self.environ)
        return self._pull

    def working_file(self, path: str) -> str:
        """The absolute path of a file a CI job produced (relative paths are from the working
        directory); FileNotFoundError naming that path if there is no such file."""
        full = os.path.abspath(path)
        if not os.path.isfile(full):
            raise FileNotFoundError(2, "no such file", full)
        return full

    def working_files(self, pattern: str) -> list[str]:
        """The files a glob (`runs/seed*/results.json`, `**` crossing directories) matches,
        from the working directory, sorted so repeated checks read them in the same order."""
        import glob

        return sorted(p for p in glob.glob(os.path.abspath(pattern), recursive=True) if os.path.isfile(p))
