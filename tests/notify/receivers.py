"""Local message receivers: a JSON webhook and an SMTP server, both on 127.0.0.1."""

from __future__ import annotations

import email
import json
import socket
import threading
import time
from collections.abc import Callable
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """Messages as (subject, body), appended by a receiver thread."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def add(self, subject: str, body: str) -> None:
        with self._lock:
            self.messages.append((subject, body))

    def matching(self, test: Callable[[str, str], bool]) -> list[tuple[str, str]]:
        with self._lock:
            return [m for m in self.messages if test(*m)]

    def wait_for(self, test: Callable[[str, str], bool], timeout: float, settle: float = 3.0) -> list[tuple[str, str]]:
        """The matching messages once at least one arrived (and a moment for duplicates)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.matching(test):
                time.sleep(settle)
                return self.matching(test)
            time.sleep(0.5)
        raise AssertionError(f"no matching message within {timeout} s; got {self.messages}")


class Webhook:
    """An HTTP server taking Apprise's json:// posts."""

    def __init__(self) -> None:
        self.inbox = Inbox()
        inbox = self.inbox

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                data: Any = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                inbox.add(str(data.get("title", "")), str(data.get("message", "")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "Webhook":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """An SMTP server (aiosmtpd) that keeps what it receives."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.inbox = Inbox()
        inbox = self.inbox

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
                msg = email.message_from_bytes(envelope.content, policy=default_policy)
                part = msg.get_body(preferencelist=("plain",))
                inbox.add(str(msg["Subject"]), part.get_content() if part else "")
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> "Mailbox":
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()
