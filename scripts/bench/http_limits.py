"""Hostile HTTP against a running server, with the server's memory and connection hold times.

    python scripts/bench/http_limits.py --url http://127.0.0.1:8000 --pid PID

Three cases, each printed as one line:
- a 300 MB chunked body (no Content-Length) to ``POST /api/v1/search``: bytes the server took
  before answering, its status, and the server's peak RSS growth;
- a 64 MB header: the same;
- slowloris: ``--connections`` connections that send a request head one byte every few
  seconds; how long the server held them (each is given up after ``--hold-limit`` s).

Peak RSS is the kernel's high-water mark (VmHWM), reset before each case through
``/proc/PID/clear_refs`` (needs the same user or root). Loopback only: the server must be
one you run on this machine.
"""

from __future__ import annotations

import argparse
import contextlib
import select
import socket
import statistics
import time
from pathlib import Path
from urllib.parse import urlsplit

MB = 1024 * 1024


def _kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def _reset_peak(pid: int) -> int:
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return _kb(pid, "VmRSS")


def _status(sock: socket.socket) -> str:
    sock.settimeout(30)
    try:
        head = sock.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
    except (TimeoutError, ConnectionResetError):
        return "no answer"
    return head or "closed without an answer"


def _send_until_answered(sock: socket.socket, total: int, piece: bytes, framed: bool) -> int:
    sent = 0
    try:
        while sent < total:
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if framed else piece)
            sent += len(piece)
            if select.select([sock], [], [], 0)[0]:
                break
        if framed and sent >= total:
            sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


def chunked_body(host: str, port: int, pid: int, size: int) -> str:
    before = _reset_peak(pid)
    sock = socket.create_connection((host, port))
    sock.sendall(b"POST /api/v1/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    started = time.monotonic()
    sent = _send_until_answered(sock, size, b" " * (64 * 1024), framed=True)
    status = _status(sock)
    sock.close()
    peak = _kb(pid, "VmHWM")
    return (f"chunked body {size // MB} MB: server took {sent / MB:.1f} MB in "
            f"{time.monotonic() - started:.1f} s, answered {status!r}, "
            f"peak RSS +{(peak - before) / 1024:.0f} MB")


def big_header(host: str, port: int, pid: int, size: int) -> str:
    before = _reset_peak(pid)
    sock = socket.create_connection((host, port))
    sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
    sent = _send_until_answered(sock, size, b"a" * (64 * 1024), framed=False)
    with contextlib.suppress(OSError):
        sock.sendall(b"\r\n\r\n")
    status = _status(sock)
    sock.close()
    peak = _kb(pid, "VmHWM")
    return (f"header {size // MB} MB: server took {sent / MB:.1f} MB, answered {status!r}, "
            f"peak RSS +{(peak - before) / 1024:.0f} MB")


def slowloris(host: str, port: int, n: int, interval_s: float, limit_s: float) -> str:
    socks: list[socket.socket] = []
    for _ in range(n):
        s = socket.create_connection((host, port))
        s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        s.setblocking(False)
        socks.append(s)
    started = time.monotonic()
    held: dict[int, float] = {}
    next_trickle = started
    while len(held) < n and time.monotonic() - started < limit_s:
        now = time.monotonic()
        if now >= next_trickle:
            for i, s in enumerate(socks):
                if i not in held:
                    try:
                        s.send(b"X")
                    except OSError:
                        held[i] = now - started
            next_trickle = now + interval_s
        open_ = [s for i, s in enumerate(socks) if i not in held]
        readable, _, _ = select.select(open_, [], [], 0.2) if open_ else ([], [], [])
        for s in readable:
            i = socks.index(s)
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data or b"HTTP/1.1" in data:
                held[i] = time.monotonic() - started
    for s in socks:
        s.close()
    still_open = n - len(held)
    times = sorted(held.values()) or [0.0]
    return (f"slowloris {n} connections (a byte every {interval_s:g} s): closed by the server "
            f"{len(held)}, median hold {statistics.median(times):.1f} s, max "
            f"{max(times):.1f} s; still open when the client gave up at {limit_s:g} s: "
            f"{still_open}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--pid", type=int, required=True, help="the server's process id")
    parser.add_argument("--body-mb", type=int, default=300)
    parser.add_argument("--header-mb", type=int, default=64)
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--hold-limit", type=float, default=120.0)
    args = parser.parse_args()
    parts = urlsplit(args.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("loopback servers only")
    print(chunked_body(host, port, args.pid, args.body_mb * MB), flush=True)
    print(big_header(host, port, args.pid, args.header_mb * MB), flush=True)
    print(slowloris(host, port, args.connections, args.interval, args.hold_limit), flush=True)


if __name__ == "__main__":
    main()
