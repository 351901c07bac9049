"""A small thread driver that puts one :class:`DtlsConnection` on a real UDP socket and runs
``openssl s_client`` / ``s_server`` against it, for the interop tests.

Nothing here sleeps for readiness: openssl's output is read by a thread into a queue, and the
tests wait for the exact line they need, with a deadline.
"""

from __future__ import annotations

import queue
import re
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from voice.dtls import Certificate, DtlsConnection
from voice.dtls.events import DtlsEvent

DEADLINE = 15.0  # seconds for any one step; the steps take milliseconds when things work


class OpenSSL:
    """A running openssl command whose output lines arrive in a queue."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        # stdin stays open: s_server exits as soon as it reads EOF.
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\r\n"))
        self.lines.put(None)

    def wait_for(self, pattern: str, timeout: float = DEADLINE) -> re.Match[str]:
        """The first (new) output line matching ``pattern``; fails after ``timeout``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"openssl never printed {pattern!r}; output: {self.seen}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"openssl exited before {pattern!r}; output: {self.seen}")
            self.seen.append(line)
            if m := regex.search(line):
                return m

    def send_line(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode() + b"\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def write_pem(certificate: Certificate, directory: Path, name: str) -> tuple[str, str]:
    cert_pem, key_pem = certificate.to_pem()
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert_pem)
    key_path.write_bytes(key_pem)
    return str(cert_path), str(key_path)


class UdpDriver:
    """Pumps a connection over a UDP socket in the calling thread until a condition holds."""

    def __init__(self, conn: DtlsConnection, sock: socket.socket) -> None:
        self.conn = conn
        self.sock = sock
        self.peer: tuple[str, int] | None = None
        self.events: list[DtlsEvent] = []

    def flush(self) -> None:
        for datagram in self.conn.datagrams_to_send():
            assert self.peer is not None
            self.sock.sendto(datagram, self.peer)

    def run_until(self, done: Callable[[], bool], timeout: float = DEADLINE) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.flush()
            while (event := self.conn.next_event()) is not None:
                self.events.append(event)
            if done():
                return
            now = time.monotonic()
            if now >= deadline:
                raise AssertionError(f"timed out; events so far: {self.events}")
            wait = deadline - now
            timer = self.conn.get_timer()
            if timer is not None:
                wait = min(wait, max(timer - now, 0.0))
            self.sock.settimeout(max(min(wait, 0.2), 0.001))
            try:
                data, addr = self.sock.recvfrom(65536)
            except TimeoutError:
                self.conn.handle_timeout(time.monotonic())
                continue
            self.peer = addr
            self.conn.receive_datagram(data, time.monotonic())
