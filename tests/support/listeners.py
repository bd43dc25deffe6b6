"""Tiny loopback listeners that count who connected to them, for tests that must prove nothing did."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from typing import Self


class CountingListener:
    """Accepts on host:port in a thread, records each peer, answers with `reply(request_head)` and closes."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 reply: Callable[[bytes], bytes] | None = None, delay: float = 0.0) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.socket(family, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self.host, self.port = host, int(self._sock.getsockname()[1])
        self.peers: list[str] = []
        self.delay = delay  # seconds before answering each request
        self._reply = reply or (lambda _head: b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, peer = self._sock.accept()
            except OSError:
                continue
            self.peers.append(str(peer[0]))
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(2.0)
            try:
                head = conn.recv(65536)
                time.sleep(self.delay)
                conn.sendall(self._reply(head))
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
