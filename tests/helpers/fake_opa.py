"""A stand-in for an OPA server, for tests: no OPA binary can be installed where these run.

It speaks the one operation changegate uses, OPA's REST Data API `POST /v1/data/{path}` with
`{"input": ...}` -> `{"result": ..., "decision_id": ...}` (no `result` when the document is
undefined), and evaluates the Rego modules it was given with regopy (engine.rego.embedded),
not with OPA. It cannot drift from OPA's published contract unnoticed: every request it
receives and every response it sends is validated with openapi-core against the OpenAPI
description OPA's official SDKs are generated from (the pinned excerpt in
tests/rego/openapi/, with its source); a violation is recorded and fails the test through
`assert_no_violations`.

Faults on demand: a delay before answering (timeouts), an HTTP error with OPA's error body,
or a body that is not OPA's JSON. A deliberately malformed answer is not checked (it is the
point of the test); everything else is.

Server: werkzeug's threaded development server on 127.0.0.1, stopped by the context manager.
"""

from __future__ import annotations

import functools
import json
import pathlib
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.datastructures import Headers, ImmutableMultiDict
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from engine.rego.embedded import UNDEFINED, Module, RegoError, evaluate
from tests.helpers.fake_github import _OpenAPIRequest, _OpenAPIResponse, describe_errors

DESCRIPTION = pathlib.Path(__file__).resolve().parents[1] / "rego" / "openapi" / "opa-data-api.subset.yaml"
PREFIX = "/v1/data/"


@functools.cache
def load_description() -> dict[str, Any]:
    from ruamel.yaml import YAML

    data: dict[str, Any] = YAML(typ="safe", pure=True).load(DESCRIPTION.read_text(encoding="utf-8"))
    return data


@functools.cache
def _openapi() -> Any:
    from openapi_core import OpenAPI

    spec = dict(load_description())
    spec["servers"] = [{"url": "/"}]
    return OpenAPI.from_dict(spec)


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Violation:
    direction: str  # "request" or "response"
    path: str
    detail: str


class FakeOPA:
    """Serve `modules` as an OPA server would (see the module docstring)."""

    def __init__(self, modules: Mapping[str, str], *, decision_ids: bool = True, prefix: str = "") -> None:
        self.modules = [Module(name, source) for name, source in modules.items()]
        self.prefix = prefix.rstrip("/")  # served under a path prefix, as behind a gateway
        self.decision_ids = decision_ids
        self.received: list[Received] = []
        self.violations: list[Violation] = []
        self.decisions: list[str] = []
        self.delay = 0.0
        self.error: tuple[int, dict[str, Any]] | None = None  # (status, OPA's error body)
        self.malformed: tuple[int, bytes] | None = None  # (status, raw body), sent unchecked
        self._lock = threading.Lock()
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeOPA is not started"
        return f"http://127.0.0.1:{self._server.server_port}{self.prefix}"

    def __enter__(self) -> FakeOPA:
        _openapi()  # load (and check) the description before serving
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_Quiet)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def assert_no_violations(self) -> None:
        if self.violations:
            lines = "\n  ".join(f"{v.direction} {v.path}: {v.detail}" for v in self.violations)
            raise AssertionError(f"traffic that OPA's API description forbids:\n  {lines}")

    # --- serving ---

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        response = self._serve(Request(environ))
        return response(environ, start_response)

    def _serve(self, request: Request) -> Response:
        if self.prefix and not request.path.startswith(self.prefix + "/"):
            self._record("request", request.path, f"outside the prefix {self.prefix}")
            return _json(404, {"code": "resource_not_found", "message": "not served by the stand-in"})
        request.path = request.path[len(self.prefix):]  # type: ignore[misc]
        raw = request.get_data()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with self._lock:
            self.received.append(Received(request.method, request.path, dict(request.args),
                                          dict(request.headers), body))
        # The description's {path} is a urlPath spanning segments (format: urlPath); openapi-core
        # matches a parameter within one segment, so the slashes inside it are encoded to validate.
        checked = PREFIX + request.path[len(PREFIX):].replace("/", "%2F") if request.path.startswith(PREFIX) \
            else request.path
        oa_request = _OpenAPIRequest(request.host_url.rstrip("/"), checked, request.method,
                                     ImmutableMultiDict(list(request.args.items(multi=True))),
                                     Headers(request.headers), raw, request.content_type or "")
        if request.method != "POST" or not request.path.startswith(PREFIX):
            self._record("request", request.path, f"{request.method} {request.path} is not POST {PREFIX}{{path}}")
            return _json(404, {"code": "resource_not_found", "message": "not served by the stand-in"})
        errors = list(_openapi().iter_request_errors(oa_request))
        if errors:
            self._record("request", request.path, " | ".join(describe_errors(e) for e in errors))
            return _json(400, {"code": "invalid_parameter", "message": "request violates OPA's API description"})
        if self.delay:
            time.sleep(self.delay)
        if self.malformed is not None:
            status, data = self.malformed
            return Response(data, status=status, content_type="application/json")
        response = self._answer(request.path[len(PREFIX):], body)
        errors = list(_openapi().iter_response_errors(oa_request, _OpenAPIResponse(
            response.status_code, Headers(response.headers), response.get_data())))
        if errors:
            self._record("response", request.path, " | ".join(describe_errors(e) for e in errors))
        return response

    def _answer(self, path: str, body: Any) -> Response:
        if self.error is not None:
            status, error = self.error
            return _json(status, error)
        decision_id = str(uuid.uuid4())
        try:
            value = evaluate(self.modules, "data." + path.strip("/").replace("/", "."),
                             json.dumps(body["input"]))
        except RegoError as exc:  # OPA: 500 internal_error for an evaluation error (strict built-ins)
            return _json(500, {"code": "internal_error", "message": str(exc), "decision_id": decision_id})
        answer: dict[str, Any] = {}
        if value is not UNDEFINED:
            answer["result"] = value
        if self.decision_ids:
            answer["decision_id"] = decision_id
            with self._lock:
                self.decisions.append(decision_id)
        return _json(200, answer)

    def _record(self, direction: str, path: str, detail: str) -> None:
        with self._lock:
            self.violations.append(Violation(direction, path, detail))


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


class _Quiet(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        pass
