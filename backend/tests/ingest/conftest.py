"""Image builders and a network guard for the ingest tests."""

from __future__ import annotations

import io
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image


def make_image(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Image.Image:
    """A deterministic gradient, so encoders have real content to work with."""
    width, height = size
    img = Image.new("RGB", size)
    img.putdata([((x * 255) // max(width - 1, 1), (y * 255) // max(height - 1, 1), 128)
                 for y in range(height) for x in range(width)])
    return img.convert(mode) if mode != "RGB" else img


def encode(img: Image.Image, fmt: str, **options: Any) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **options)
    return buf.getvalue()


class ConnectLog:
    """Every address a socket in this process tried to connect to during a test."""

    def __init__(self) -> None:
        self.addresses: list[str] = []


@pytest.fixture(autouse=True)
def network_guard(monkeypatch: pytest.MonkeyPatch) -> Iterator[ConnectLog]:
    """Record socket connects and refuse any that is not to a loopback address.

    The fetcher must reject blocked addresses before connecting; this proves it (tests read
    ``addresses``) and makes sure no test ever sends a packet off this machine.
    """
    log = ConnectLog()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def check(address: Any) -> None:
        host = address[0] if isinstance(address, tuple) else None
        if host is None:  # a unix socket path
            return
        log.addresses.append(str(host))
        if not ipaddress.ip_address(str(host).split("%")[0]).is_loopback:
            raise OSError(f"test network guard: refused a connection to {host}")

    def connect(self: socket.socket, address: Any) -> None:
        check(address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(address)
        return real_connect_ex(self, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield log
