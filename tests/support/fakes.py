"""Real local servers standing in for third parties we cannot run in tests: an SMTP server
(aiosmtpd) that keeps what it receives, and an HTTP server that answers like the Telegram Bot
API or a webhook receiver, with scripted answers (429 with retry_after, 5xx, 4xx)."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from localservers import free_port


class SmtpSink:
    def __init__(self, port: int | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.port = port or free_port()
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                sink.messages.append(message_from_bytes(envelope.content, policy=policy.default))  # type: ignore[arg-type]
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address in str(m["To"])]


@dataclass
class Answer:
    status: int = 200
    body: dict[str, Any] = field(default_factory=lambda: {"ok": True, "result": {"message_id": 1}})
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Seen:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        return json.loads(self.body)


class FakeHttp:
    """Answers POSTs and GETs: scripted answers per path (without the query) first, in order,
    then 200 {"ok": true}."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.scripts: dict[str, deque[Answer]] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                fake.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                script = fake.scripts.get(self.path.split("?")[0])
                answer = script.popleft() if script else Answer()
                payload = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                for key, value in {"Content-Type": "application/json", **answer.headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> FakeHttp:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()

    def script(self, path: str, *answers: Answer) -> None:
        self.scripts.setdefault(path, deque()).extend(answers)

    def to(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]
