"""A real headless Chromium (Debian's `chromium`; scripts/ensure-chromium installs it), driven over the
DevTools protocol on a pipe (--remote-debugging-pipe: NUL-separated JSON on fds 3 and 4), so a test
can load a page from file, collect console errors and network requests, ask the DOM, and take
screenshots. A fresh profile per browser; the process is stopped by its PID."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

INSTALL_HINT = "run scripts/ensure-chromium (installs Debian's chromium package)"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--hide-scrollbars", "--mute-audio"]


def chromium() -> str:
    found = shutil.which("chromium")
    assert found, f"chromium is not installed: {INSTALL_HINT}"
    return found


class Page:
    """One tab: navigate, evaluate, screenshot; every console error and request is recorded."""

    def __init__(self, browser: Browser, session: str) -> None:
        self.browser, self.session = browser, session
        self.console_errors: list[str] = []
        self.requests: list[str] = []

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        return self.browser.send(method, session=self.session, **params)

    def open(self, url: str, *, width: int = 1280, height: int = 900, mobile: bool = False) -> None:
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=mobile)
        self.send("Page.navigate", url=url)
        self.browser.wait_for("Page.loadEventFired", self.session)
        time.sleep(0.2)  # late console messages
        self.browser.drain(0.1)

    def evaluate(self, expression: str) -> Any:
        answer = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in answer, answer
        return answer["result"].get("value")

    def screenshot(self, path: Path, *, full_page: bool = True) -> bytes:
        answer = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=full_page)
        data = base64.b64decode(answer["data"])
        path.write_bytes(data)
        return data

    def note(self, event: dict[str, Any]) -> None:
        method, params = event["method"], event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
            self.console_errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in params["args"]))
        elif method == "Runtime.exceptionThrown":
            self.console_errors.append(json.dumps(params["exceptionDetails"])[:500])
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            self.console_errors.append(f"{params['entry']['source']}: {params['entry']['text']}")
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])


class Browser:
    def __init__(self, profile: Path) -> None:
        profile.parent.mkdir(parents=True, exist_ok=True)
        self._log = (profile.parent / "chromium.log").open("wb")
        self._to_chrome_r, self._to_chrome_w = os.pipe()
        self._from_chrome_r, self._from_chrome_w = os.pipe()
        # Chromium reads commands on fd 3 and writes answers on fd 4: the shell puts the pipes there
        args = [chromium(), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-pipe", "about:blank"]
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{self._to_chrome_r} 4>&{self._from_chrome_w}', "bash", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
            pass_fds=(self._to_chrome_r, self._from_chrome_w))
        os.close(self._to_chrome_r)
        os.close(self._from_chrome_w)
        self._buffer = b""
        self._next = 0
        self.pages: dict[str, Page] = {}

    def new_page(self) -> Page:
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        page = self.pages[session] = Page(self, session)
        return page

    def send(self, method: str, *, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_chrome_w, json.dumps(message).encode() + b"\0")
        while True:
            answer = self._read(30.0)
            if answer.get("id") == self._next:
                assert "error" not in answer, f"{method}: {answer['error']}"
                result: dict[str, Any] = answer["result"]
                return result
            self._dispatch(answer)

    def wait_for(self, method: str, session: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            event = self._read(deadline - time.monotonic())
            self._dispatch(event)
            if event.get("method") == method and event.get("sessionId") == session:
                return

    def drain(self, seconds: float) -> None:
        import select

        end = time.monotonic() + seconds
        while select.select([self._from_chrome_r], [], [], max(0.0, end - time.monotonic()))[0]:
            self._dispatch(self._read(1.0))
            if time.monotonic() > end:
                break

    def _dispatch(self, event: dict[str, Any]) -> None:
        page = self.pages.get(event.get("sessionId", ""))
        if page is not None and "method" in event:
            page.note(event)

    def _read(self, timeout: float) -> dict[str, Any]:
        import select

        while b"\0" not in self._buffer:
            assert select.select([self._from_chrome_r], [], [], max(timeout, 0.0))[0], "chromium did not answer"
            chunk = os.read(self._from_chrome_r, 1 << 16)
            assert chunk, "chromium exited (its log is chromium.log beside the profile)"
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except AssertionError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome_w)
        os.close(self._from_chrome_r)
        self._log.close()


@contextmanager
def browser(tmp_path: Path) -> Iterator[Browser]:
    started = Browser(tmp_path / "chromium-profile")
    try:
        yield started
    finally:
        started.close()


def dump_dom(tmp_path: Path, url: str) -> str:
    """The page's DOM after load, as `chromium --headless --dump-dom` prints it."""
    proc = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'chromium-dump'}", "--dump-dom", url],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout
