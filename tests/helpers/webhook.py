"""A real webhook receiver on loopback: records each JSON message POSTed to it.

`drip` makes it answer one byte at a time for DRIP_SECONDS (or until stopped): every read
gets data before a socket timeout, so only a bound on the whole delivery ends the wait early.
`on_post` is called as each message arrives; what it returns is kept with the message
(e.g. what the audit log held at that moment).
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Callable
from typing import Any

DRIP_SECONDS = 30.0


class Receiver:
    def __init__(self, *, drip: bool = False, on_post: Callable[[], Any] | None = None) -> None:
        self.messages: list[dict[str, Any]] = []
        self.stopping = threading.Event()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.messages.append({"content_type": self.headers["Content-Type"], "path": self.path,
                                          "body": json.loads(body),
                                          "on_post": on_post() if on_post else None})
                if drip:
                    self._drip()
                    return
                self.send_response(204)
                self.end_headers()

            def _drip(self) -> None:
                try:
                    self.wfile.write(b"HTTP/1.1 204 No Content\r\nX-Slow: ")
                    until = time.monotonic() + DRIP_SECONDS
                    while not receiver.stopping.wait(0.2) and time.monotonic() < until:
                        self.wfile.write(b"x")
                        self.wfile.flush()
                except OSError:
                    pass  # the sender gave up

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}/hooks/secret-token"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        """Until `count` messages have arrived (a POST may land just after its sender moved on)."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
