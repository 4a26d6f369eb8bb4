"""One way to retry HTTP calls, for every service the engine asks (GitHub, Prometheus, MLflow).

Why one: a gate that asks three services should wait, give up and explain the same way
for each. The policy is urllib3's `Retry` (what `requests` itself retries with) mounted on
a `requests.Session`, so retrying happens below the clients, which only read answers:

* retried: connection failures, 429 and every 5xx, for GET, HEAD, POST and PATCH (each
  POST or PATCH the engine sends is a read, or harmless to repeat);
* a read timeout only if the client asks: a server that took the request and is slow is
  likely to be as slow again, and a hook's time is short;
* retry k waits `backoff * 2**(k-1)` seconds, unless the server says how long (a
  `Retry-After` header, or what the client reads in the answer, like GitHub's reset time);
* all waits of one call together stay under `max_wait`: a call that would have to wait
  longer gives up at once, with the failure it had (a hook cannot wait an hour).

Why a call gave up travels with what the client sees, so each client keeps its own words
for it: `stopped(response)` for a failed answer, `stopped(exception)` for an error.

This module imports `requests` and `urllib3`: clients import it when they first make a
request, never at module import, because the git hook imports the engine package.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    InvalidHeader,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
    ResponseError,
)
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

from engine import __version__

USER_AGENT = f"changegate/{__version__}"
RETRY_STATUSES = frozenset({429, *range(500, 600)})
RETRY_METHODS = frozenset({"GET", "HEAD", "POST", "PATCH"})

Headers = Mapping[str, str]
Timeout = float | tuple[float, float]


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a call, how long to wait, and when to give up.

    `transient` narrows `statuses` by the answer's headers (GitHub's 403 is a rate limit
    only when its headers say so); `asks_wait` reads how long a server asks to wait when
    `Retry-After` is not all it says (None: it does not say). `sleep` is injectable so
    tests can see the waits without waiting.
    """

    attempts: int = 3  # in all, the first included
    backoff: float = 0.25  # seconds before the first retry; doubled for each next one
    max_wait: float = 30.0  # seconds of waiting in all, per call
    read_timeouts: bool = False  # retry when the server took the request but did not answer in time
    statuses: Collection[int] = RETRY_STATUSES
    transient: Callable[[int, Headers], bool] | None = None
    asks_wait: Callable[[int, Headers], float | None] | None = None
    sleep: Callable[[float], None] = time.sleep

    def retry(self) -> Retry:
        """The urllib3 `Retry` that applies this policy."""
        return _Retry(
            total=max(0, self.attempts - 1),
            allowed_methods=RETRY_METHODS,
            status_forcelist=self.statuses,
            raise_on_status=False,  # the last failed answer reaches the client, which explains it
            respect_retry_after_header=True,
            policy=self,
        )

    def backoff_wait(self, failures: int) -> float:
        return float(self.backoff * 2 ** (failures - 1))


@dataclass(frozen=True)
class Stopped:
    """Why retrying stopped: the attempts ran out, or (`needed` set) the next wait would pass `limit`."""

    attempts: int
    needed: float | None = None
    limit: float = 0.0

    def note(self) -> str:
        """`gave up after 3 attempts`, or the wait it would take; empty when the one attempt was
        all the policy allowed (there is nothing to add to the failure then)."""
        if self.needed is not None:
            return f"retrying would need {self.needed:.0f} s more; the limit is {self.limit:.0f} s in all"
        if self.attempts > 1:
            return f"gave up after {self.attempts} attempts"
        return ""


class RetriesStopped(MaxRetryError):
    """urllib3's "max retries exceeded", saying which limit was reached."""

    def __init__(self, pool: ConnectionPool | None, url: str | None, reason: Exception | None,
                 stopped: Stopped) -> None:
        super().__init__(pool, url, reason)  # type: ignore[arg-type]  # urllib3 passes None itself
        self.stopped = stopped


def session(policy: RetryPolicy, *, timeout: Timeout, headers: Headers | None = None) -> requests.Session:
    """A session that retries by `policy`, times out after `timeout` unless a call says otherwise,
    and names changegate in User-Agent."""
    http = requests.Session()
    adapter = _Adapter(timeout, max_retries=policy.retry())
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    http.headers["User-Agent"] = USER_AGENT
    http.headers.update(headers or {})
    return http


def stopped(what: requests.Response | BaseException) -> Stopped | None:
    """Why retrying a failed answer or an error stopped; None when it was never retried by the policy."""
    if isinstance(what, requests.Response):
        found = getattr(what.raw, _STOPPED, None)
        return found if isinstance(found, Stopped) else None
    error = _retry_error(what)
    return error.stopped if isinstance(error, RetriesStopped) else None


def timed_out(error: BaseException) -> bool:
    """Whether an error means the server did not answer in time (to connect, or to answer)."""
    if isinstance(error, requests.Timeout):
        return True
    found = _retry_error(error)
    reasons = [found.reason] if found is not None else list(error.args)
    return any(isinstance(r, ReadTimeoutError)
               or (isinstance(r, ConnectTimeoutError) and not isinstance(r, NewConnectionError))
               for r in reasons)


_STOPPED = "changegate_stopped"  # the attribute of a urllib3 answer saying why it was not retried


def _retry_error(error: BaseException) -> MaxRetryError | None:
    """The MaxRetryError behind a requests exception (requests wraps it as its first argument)."""
    if isinstance(error, MaxRetryError):
        return error
    return next((a for a in error.args if isinstance(a, MaxRetryError)), None)


class _Retry(Retry):
    """`Retry` with the policy's backoff, its waits counted against `max_wait`, and its sleep."""

    def __init__(self, *args: Any, policy: RetryPolicy, waited: float = 0.0, wait: float = 0.0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.policy = policy
        self.waited = waited  # seconds waited so far in this call
        self.wait = wait  # seconds to wait before the next attempt

    def new(self, **kw: Any) -> Self:
        kw.setdefault("policy", self.policy)
        kw.setdefault("waited", self.waited)
        kw.setdefault("wait", self.wait)
        return super().new(**kw)

    def increment(self, method: str | None = None, url: str | None = None,
                  response: BaseHTTPResponse | None = None, error: Exception | None = None,
                  _pool: ConnectionPool | None = None, _stacktrace: TracebackType | None = None) -> Self:
        policy = self.policy
        if isinstance(error, ReadTimeoutError) and not policy.read_timeouts:
            raise error.with_traceback(_stacktrace)
        if response is not None and policy.transient is not None and not policy.transient(
                response.status, response.headers):
            # not worth retrying: urllib3 hands this answer to the client as it is
            raise MaxRetryError(_pool, url, ResponseError(f"{response.status} is not retried"))  # type: ignore[arg-type]
        reason = error or ResponseError(f"too many {response.status if response else ''} error responses")
        try:
            retry = super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError:
            raise self._stop(response, _pool, url, reason, Stopped(len(self.history) + 1)) from error
        wait = self._wait(response, len(retry.history))
        if self.waited + wait > policy.max_wait:
            raise self._stop(response, _pool, url, reason, Stopped(len(retry.history), wait, policy.max_wait)) \
                from error
        return retry.new(waited=self.waited + wait, wait=wait)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        self.policy.sleep(self.wait)

    def _wait(self, response: BaseHTTPResponse | None, failures: int) -> float:
        if response is not None:
            if self.policy.asks_wait is not None:
                asked = self.policy.asks_wait(response.status, response.headers)
                if asked is not None:
                    return asked
            try:
                after = self.get_retry_after(response)
            except InvalidHeader:
                after = None
            if after is not None:
                return after
        return self.policy.backoff_wait(failures)

    @staticmethod
    def _stop(response: BaseHTTPResponse | None, pool: ConnectionPool | None, url: str | None,
              reason: Exception, why: Stopped) -> RetriesStopped:
        if response is not None:  # urllib3 returns this answer to the client, which asks why
            setattr(response, _STOPPED, why)
        return RetriesStopped(pool, url, reason, why)


class _Adapter(HTTPAdapter):
    """An adapter with a default timeout: a call that names none must not wait forever."""

    def __init__(self, timeout: Timeout, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.timeout = timeout

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: float | tuple[float, float] | tuple[float, None] | None = None, verify: bool | str = True,
             cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
             proxies: Mapping[str, str] | None = None) -> requests.Response:
        return super().send(request, stream=stream, timeout=self.timeout if timeout is None else timeout,
                            verify=verify, cert=cert, proxies=proxies)
