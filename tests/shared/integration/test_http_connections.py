"""How a service treats connections: an idle keep-alive connection is kept longer than clients
keep theirs (so a reused connection is never closed under a request, which would leave it
with no answer at all), and beyond its concurrency limit it answers 503 at once."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.integration


def _get(sock: socket.socket, host: str) -> bytes:
    sock.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    sock.settimeout(10)
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        answer += chunk
    return answer


def test_an_idle_keep_alive_connection_outlives_a_clients_idle_timeout(run_service):
    server = run_service("notifier")
    url = urlsplit(server.address)
    with socket.create_connection((url.hostname, url.port)) as sock:
        assert _get(sock, url.netloc).startswith(b"HTTP/1.1 200")
        time.sleep(6)  # longer than the 5 s uvicorn keeps by default (and httpx's own idle expiry)
        assert _get(sock, url.netloc).startswith(b"HTTP/1.1 200")  # same connection, still answered


def test_beyond_its_concurrency_limit_a_service_answers_503_at_once(run_service):
    server = run_service("notifier", NOTIFIER_MAX_CONCURRENCY="3")  # uvicorn: 503 from the 3rd open connection
    url = urlsplit(server.address)
    held: list[socket.socket] = []
    try:
        for _ in range(2):  # two kept-alive connections are served
            held.append(socket.create_connection((url.hostname, url.port)))
            assert _get(held[-1], url.netloc).startswith(b"HTTP/1.1 200")
        held.append(socket.create_connection((url.hostname, url.port)))
        assert _get(held[-1], url.netloc).startswith(b"HTTP/1.1 503")  # the third: at once, not queued
    finally:
        for sock in held:
            sock.close()
