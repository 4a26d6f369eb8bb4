"""Asking an OPA server for a decision, through opa-python-client (`sources.opa` in a policy).

One request per rule: `POST {url}/v1/data/{path}` with `{"input": ...}`, OPA's REST Data
API, asking for strict built-in errors (as the embedded evaluator uses). The answer is
`{"result": ..., "decision_id": ...}`; no `result` means the path is undefined. No retries:
a push waits at most the configured timeout (per connection attempt and per read), and
the hook's own time budget bounds the rest.

Every failure (unreachable, timeout, an HTTP error, an answer that is not OPA's JSON) is an
OpaError with a kind, and the rule's `on_error` decides (deny by default).
opa-python-client (and its aiohttp) is imported only here, when a rule asks a server.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, Literal, NamedTuple

    Kind = Literal["config", "unreachable", "timeout", "http", "malformed"]
else:
    from engine.lighttuple import NamedTuple

DEFAULT_TIMEOUT = 2.0  # seconds; OPA answers in milliseconds, and a push has ~5 s for every hook


class OpaError(Exception):
    def __init__(self, kind: Kind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class OpaDecision(NamedTuple):
    result: Any  # engine.rego.embedded.UNDEFINED when OPA's answer has no result
    decision_id: str  # "" when the server does not log decisions


class OpaServer:
    """The server of `sources.opa`: {url, timeout, token_env}."""

    def __init__(self, config: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        from urllib.parse import urlsplit

        from engine.times import format_duration, parse_duration

        self.url = str(config["url"]).rstrip("/")
        self.timeout = parse_duration(config["timeout"]) if config.get("timeout") else DEFAULT_TIMEOUT
        self.timeout_text = format_duration(self.timeout)
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise OpaError("config", f"sources.opa.url {self.url!r} is not an http(s) URL")
        self._https = parts.scheme == "https"
        self._host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self._port = parts.port or (443 if self._https else 80)
        prefix = parts.path.strip("/")  # an OPA behind a path prefix: the client's "version" carries it
        self._version = f"{prefix}/v1" if prefix else "v1"
        self._token = None
        if config.get("token_env"):
            self._token = environ.get(config["token_env"])
            if not self._token:
                raise OpaError("config", f"the OPA token variable {config['token_env']} is not set; export it")

    def decide(self, path: str, input_document: dict[str, Any]) -> OpaDecision:
        """OPA's decision at `path` (slash-separated, e.g. changegate/deny) for the input."""
        import requests
        from opa_client.opa import OpaClient

        from engine.rego.embedded import UNDEFINED

        client = OpaClient(host=self._host, port=self._port, version=self._version, ssl=self._https,
                           token=self._token, retries=0, timeout=(min(self.timeout, 3.0), self.timeout),
                           # OPA's API description allows only `gzip` here; requests would say "gzip, deflate"
                           headers={"Accept-Encoding": "gzip"})
        where = f"{self.url}/v1/data/{path}"
        try:
            answer = client.query_rule(input_data=input_document, package_path=path,
                                       query_params={"strict-builtin-errors": "true"})
        except requests.Timeout:
            raise OpaError("timeout", f"the OPA server did not answer {where} within {self.timeout_text}") from None
        except requests.HTTPError as exc:
            raise OpaError("http", f"the OPA server answered {where} with {_http_error(exc.response)}") from None
        except requests.ConnectionError as exc:
            raise OpaError("unreachable", f"cannot reach the OPA server at {self.url}: {_reason(exc)}") from None
        except ValueError:  # the body is not JSON (requests' JSONDecodeError is a RequestException too)
            raise OpaError("malformed", f"the OPA server's answer to {where} is not JSON") from None
        except requests.RequestException as exc:
            raise OpaError("unreachable", f"asking the OPA server at {where} failed: {_reason(exc)}") from None
        finally:
            client.close_connection()
        if not isinstance(answer, dict):
            raise OpaError("malformed", f"the OPA server's answer to {where} is not a JSON object")
        decision_id = answer.get("decision_id", "")
        if not isinstance(decision_id, str):
            raise OpaError("malformed", f"the OPA server's answer to {where} has a decision_id that is not a string")
        return OpaDecision(answer.get("result", UNDEFINED), decision_id)


def _http_error(response: Any) -> str:
    """HTTP 500 (internal_error: what OPA said), from OPA's error body when there is one."""
    status = getattr(response, "status_code", "?")
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        code = body.get("code") if isinstance(body.get("code"), str) else "error"
        errors = [str(e["message"]) for e in body.get("errors") or [] if isinstance(e, dict)
                  and isinstance(e.get("message"), str)]
        detail = body["message"] + (": " + "; ".join(errors[:3]) if errors else "")
        return f"HTTP {status} ({code}: {' '.join(detail.split())[:300]})"
    return f"HTTP {status}"


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:200] or type(exc).__name__
