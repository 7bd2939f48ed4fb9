"""Download images from user-given URLs without becoming an SSRF proxy.

How the private-address rule is enforced: the httpx transport gets a network backend whose
``connect_tcp`` resolves the host itself, refuses the connection if ANY resolved address is
loopback/private/link-local/multicast/reserved/unspecified/cloud-metadata, and then connects
to one of exactly those checked addresses. The check and the connection therefore use the
same DNS answer (no DNS-rebinding window), it runs before any packet is sent to the target,
and it runs for every new connection, so every redirect hop (followed here, one by one) is
checked too. TLS still verifies the certificate against the URL's host name. Environment
proxies are ignored (``trust_env=False``): a proxy would hide the real destination.

Fetches are blocking (the service runs them on its worker threads, like decoding). Residual
risks: the resolver (``socket.getaddrinfo``) cannot be interrupted, so a very slow DNS server
can hold a fetch past its deadline; ``allow_hosts`` entries bypass the address rule entirely.

Errors are ``FetchError`` (an ``ImageError``): 400 for a malformed or non-http(s) URL, 422
when the URL is fine but what it points at is not acceptable (blocked address, unresolvable
host, too many redirects, upstream error status, not an image, too large), 502 when the
upstream connection fails, and 504 when it is too slow.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpcore
import httpx

from visearch.ingest.decode import ImageError

if TYPE_CHECKING:
    from visearch.config import Settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[str]]

_STATUS = {
    "invalid_url": 400,
    "blocked_url": 422,
    "dns_failed": 422,
    "too_many_redirects": 422,
    "upstream_status": 422,
    "not_an_image": 422,
    "unsupported_encoding": 422,
    "too_large": 422,
    "fetch_failed": 502,
    "fetch_timeout": 504,
}
_MAX_URL_LENGTH = 8192
_OK_STATUS = (200, 203)
_BINARY_TYPES = ("application/octet-stream", "binary/octet-stream")
_HEADERS = {
    "User-Agent": "visearch-fetcher/0.1",
    "Accept": "image/*",
    "Accept-Encoding": "identity",  # compressed bodies would defeat the byte limit
}

# Belt and braces on top of ipaddress' flags, whose coverage differs between Python versions.
_BLOCKED_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
        "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
        "::/8", "64:ff9b:1::/48", "100::/64", "2001::/23", "2001:db8::/32", "fc00::/7",
        "fe80::/10", "fec0::/10", "ff00::/8",
    )
)
# Cloud metadata endpoints, including ones that are not in a private range (Azure).
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200",
        "168.63.129.16", "192.0.0.192",
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class FetchError(ImageError, status=422):
    """A URL could not be fetched as an image; ``code`` says why (see the module doc)."""

    statuses = _STATUS


@dataclass(frozen=True)
class FetchedImage:
    """The downloaded bytes (not yet decoded), the media type and the URL after redirects."""

    data: bytes
    content_type: str
    final_url: str


def is_public_address(ip: IPAddress) -> bool:
    """True when ``ip`` is a globally routable unicast address that is not a metadata service.

    IPv6 forms that embed an IPv4 address (mapped, 6to4, NAT64) are judged by that address.
    """
    if ip in _METADATA_ADDRESSES:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return False
        if ip.teredo is not None:
            return False
        embedded: ipaddress.IPv4Address | None = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public_address(embedded)
    if any(ip in net for net in _BLOCKED_NETWORKS if net.version == ip.version):
        return False
    return ip.is_global and not (
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def system_resolver(host: str, port: int) -> list[str]:
    """Addresses for ``host`` from the OS resolver, in its preference order, de-duplicated."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _AddressGuard:
    """Resolves a host and returns its addresses only if every one of them may be used."""

    def __init__(self, allow_private: bool, allow_hosts: Iterable[str], resolver: Resolver):
        self._allow_private = allow_private
        self._allow_hosts = frozenset(h.strip().lower() for h in allow_hosts)
        self._resolver = resolver

    def resolve(self, host: str, port: int) -> list[str]:
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [str(literal)]
        else:
            try:
                addresses = list(self._resolver(host, port))
            except (OSError, UnicodeError) as exc:
                raise FetchError(f"cannot resolve host {host!r}: {exc}", code="dns_failed") from None
            if not addresses:
                raise FetchError(f"host {host!r} has no addresses", code="dns_failed")
        if self._allow_private or self._host_allowed(host, port):
            return addresses
        for address in addresses:
            ip = _ip_literal(address)
            if ip is None or not is_public_address(ip):
                shown = host if literal is not None else f"{host!r} resolves to {address}, which"
                raise FetchError(
                    f"{shown} is a private, loopback, link-local, reserved or metadata "
                    "address; fetching it is not allowed",
                    code="blocked_url",
                )
        return addresses

    def _host_allowed(self, host: str, port: int) -> bool:
        host = host.lower()
        shown = f"[{host}]" if ":" in host else host
        return bool({host, shown, f"{shown}:{port}"} & self._allow_hosts)


def _ip_literal(text: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return None


class _GuardedSyncBackend(httpcore.SyncBackend):
    """Connects only to addresses the guard approved, and to exactly those."""

    def __init__(self, guard: _AddressGuard) -> None:
        self._guard = guard

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        error: httpcore.ConnectError | None = None
        for address in self._guard.resolve(host, port):
            try:
                return super().connect_tcp(address, port, timeout, local_address, socket_options)
            except httpcore.ConnectError as exc:  # try the next address, like create_connection
                error = exc
        assert error is not None
        raise error


# httpx has no public hook for the network backend; the transport below replaces the pool
# that HTTPTransport builds (`_pool`, stable since httpx 0.18) with one using the guard.
class _GuardedTransport(httpx.HTTPTransport):
    def __init__(
        self, guard: _AddressGuard, limits: httpx.Limits, ssl_context: ssl.SSLContext
    ) -> None:
        super().__init__(verify=ssl_context, trust_env=False, limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_GuardedSyncBackend(guard),
        )


class UrlFetcher:
    """Fetch image bytes over http(s) with limits; safe to share between threads.

    ``timeout_s`` bounds each connect/read; ``total_timeout_s`` (default 3 x ``timeout_s``)
    bounds a whole fetch including waiting for one of the ``concurrency`` slots, redirects and
    a slowly dripping body. ``resolver`` (host, port) -> addresses replaces the OS resolver
    and ``ssl_context`` the default CA bundle.
    """

    def __init__(
        self,
        timeout_s: float = 10.0,
        max_bytes: int = 25 * 1024 * 1024,
        max_redirects: int = 3,
        concurrency: int = 8,
        allow_private: bool = False,
        allow_hosts: Iterable[str] = frozenset(),
        *,
        total_timeout_s: float | None = None,
        resolver: Resolver = system_resolver,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if timeout_s <= 0 or max_bytes < 1 or max_redirects < 0 or concurrency < 1:
            raise ValueError("timeout_s, max_bytes, concurrency must be > 0; max_redirects >= 0")
        self.timeout_s = timeout_s
        self.total_timeout_s = total_timeout_s if total_timeout_s is not None else 3 * timeout_s
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self.concurrency = concurrency
        guard = _AddressGuard(allow_private, allow_hosts, resolver)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        if ssl_context is None:  # certifi's CAs (or SSL_CERT_FILE / SSL_CERT_DIR when set)
            ssl_context = httpx.create_ssl_context()
        self._client = httpx.Client(
            transport=_GuardedTransport(guard, limits, ssl_context),
            headers=_HEADERS,
            follow_redirects=False,
            trust_env=False,
        )
        self._slots = threading.BoundedSemaphore(concurrency)

    @classmethod
    def from_settings(cls, settings: Settings) -> UrlFetcher:
        return cls(
            timeout_s=settings.fetch_timeout_s,
            max_bytes=settings.max_upload_bytes,
            max_redirects=settings.fetch_max_redirects,
            concurrency=settings.fetch_concurrency,
            allow_private=settings.fetch_allow_private,
            allow_hosts=settings.fetch_allow_hosts,
        )

    def fetch(self, url: str) -> FetchedImage:
        """Download ``url`` (blocking); raise ``FetchError`` on any problem."""
        deadline = time.monotonic() + self.total_timeout_s
        start = _parse_url(url)
        if not self._slots.acquire(timeout=self.total_timeout_s):
            raise FetchError("too many fetches in progress; try again later", code="fetch_timeout")
        try:
            with _mapped_errors():
                return self._fetch(start, deadline)
        finally:
            self._slots.release()

    def close(self) -> None:
        """Close the blocking client's connections."""
        self._client.close()

    def __enter__(self) -> UrlFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fetch(self, url: httpx.URL, deadline: float) -> FetchedImage:
        for _ in range(self.max_redirects + 1):
            request = self._client.build_request("GET", url, timeout=self._timeout(deadline))
            response = self._client.send(request, stream=True)
            try:
                target = _redirect_target(response)
                if target is None:
                    content_type = _check_response(response, self.max_bytes)
                    data = self._read(response, deadline)
                    return FetchedImage(data, content_type, str(response.url))
            finally:
                response.close()
            url = target
        raise self._too_many_redirects()

    def _read(self, response: httpx.Response, deadline: float) -> bytes:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_raw():
            size = self._count(size, chunk, deadline)
            chunks.append(chunk)
        return b"".join(chunks)

    def _count(self, size: int, chunk: bytes, deadline: float) -> int:
        """Running body size; stops a body that is too big or drips past the deadline."""
        size += len(chunk)
        if size > self.max_bytes:
            raise FetchError(f"the image is larger than {self.max_bytes} bytes", code="too_large")
        if time.monotonic() > deadline:
            raise _timeout_error(self.total_timeout_s)
        return size

    def _timeout(self, deadline: float) -> httpx.Timeout:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _timeout_error(self.total_timeout_s)
        return httpx.Timeout(min(self.timeout_s, remaining))

    def _too_many_redirects(self) -> FetchError:
        return FetchError(
            f"more than {self.max_redirects} redirects; giving up", code="too_many_redirects"
        )


def _parse_url(url: object, *, redirect: bool = False) -> httpx.URL:
    """An absolute http(s) URL without fragment, or ``invalid_url``."""
    status = 422 if redirect else None  # a bad redirect is the server's fault, not the caller's
    where = "the server redirected to " if redirect else ""
    if not isinstance(url, (str, httpx.URL)):
        raise FetchError("the URL must be a string", code="invalid_url", status=status)
    if len(str(url)) > _MAX_URL_LENGTH:
        raise FetchError(f"{where}a URL longer than {_MAX_URL_LENGTH}", code="invalid_url", status=status)
    try:
        parsed = httpx.URL(url.strip() if isinstance(url, str) else url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise FetchError(f"{where}an invalid URL: {exc}", code="invalid_url", status=status) from None
    if parsed.scheme not in ("http", "https"):
        raise FetchError(
            f"{where}a {parsed.scheme or 'relative'!s} URL; only http and https can be fetched",
            code="invalid_url",
            status=status,
        )
    if not parsed.host:
        raise FetchError(f"{where}a URL without a host", code="invalid_url", status=status)
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise FetchError(f"{where}a URL with port {parsed.port}", code="invalid_url", status=status)
    return parsed.copy_with(fragment=None)


def _redirect_target(response: httpx.Response) -> httpx.URL | None:
    if not response.is_redirect:
        return None
    location = response.headers["Location"]
    try:
        target = response.url.join(location)
    except (httpx.InvalidURL, ValueError) as exc:
        raise FetchError(
            f"the server redirected to an invalid URL: {exc}", code="invalid_url", status=422
        ) from None
    return _parse_url(target, redirect=True)


def _check_response(response: httpx.Response, max_bytes: int) -> str:
    """The media type of an acceptable final response; raises before the body is read."""
    if response.status_code not in _OK_STATUS:
        raise FetchError(
            f"the server answered HTTP {response.status_code} for the URL", code="upstream_status"
        )
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise FetchError(
            f"the server sent a {encoding}-compressed body; images must be sent uncompressed",
            code="unsupported_encoding",
        )
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    # octet-stream is common for images in object stores; the decoder checks the bytes.
    if not (media_type.startswith("image/") or media_type in _BINARY_TYPES):
        shown = media_type or "no content type"
        raise FetchError(f"the URL serves {shown}, not an image", code="not_an_image")
    length = response.headers.get("Content-Length")
    if length is not None and length.strip().isdigit() and int(length) > max_bytes:
        raise FetchError(
            f"the image is {int(length)} bytes; the limit is {max_bytes} bytes", code="too_large"
        )
    return media_type


def _timeout_error(total_s: float) -> FetchError:
    return FetchError(f"the fetch took longer than {total_s:g} s", code="fetch_timeout")


@contextlib.contextmanager
def _mapped_errors() -> Iterator[None]:
    """Turn httpx's transport exceptions into ``FetchError``; ours pass through."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise FetchError(f"the server was too slow: {exc}", code="fetch_timeout") from None
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise FetchError(f"invalid URL: {exc}", code="invalid_url") from None
    except httpx.TransportError as exc:
        detail = str(exc) or type(exc).__name__
        raise FetchError(f"could not fetch the URL: {detail}", code="fetch_failed") from None
