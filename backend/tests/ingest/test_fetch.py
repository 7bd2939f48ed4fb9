"""UrlFetcher against a real HTTP server on 127.0.0.1: limits, redirects, SSRF rules.

Only 127.0.0.1 ever receives traffic: the autouse ``network_guard`` refuses other connects
and records every attempt, which the blocked-address tests use to prove that nothing was
even tried.
"""

from __future__ import annotations

import contextlib
import gzip
import ipaddress
import pickle
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tests.ingest.conftest import ConnectLog
from visearch.config import load_settings
from visearch.ingest.decode import ImageError, decode_image
from visearch.ingest.fetch import FetchedImage, FetchError, UrlFetcher, is_public_address

FIFTY_MB = 50 * 1024 * 1024
MAX_BYTES = 2 * 1024 * 1024
CHUNK = b"\x00" * 65536


class Server:
    """Threaded HTTP server with an endpoint for each case."""

    def __init__(self, jpeg: bytes, tls: ssl.SSLContext | None = None) -> None:
        self.jpeg = jpeg
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.busy = 0
        self.max_busy = 0
        self.paths: list[str] = []
        self.hosts: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, so pooling can be observed

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                with server.lock:
                    server.paths.append(self.path)
                    server.hosts.append(self.headers.get("Host", ""))
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    server.route(self)  # a broken pipe means the client gave up, as it should

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def route(self, h: BaseHTTPRequestHandler) -> None:
        url = urlparse(h.path)
        path, query = url.path, parse_qs(url.query)
        if path == "/good.jpg":
            self.send(h, 200, "image/jpeg", self.jpeg)
        elif path == "/octet":
            self.send(h, 200, "application/octet-stream", self.jpeg)
        elif path == "/page.html":
            self.send(h, 200, "text/html; charset=utf-8", b"<html><body>hi</body></html>")
        elif path == "/missing":
            self.send(h, 404, "text/plain", b"not found")
        elif path == "/gzip":
            body = gzip.compress(self.jpeg)
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Content-Encoding", "gzip")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
        elif path in ("/big", "/big-nolength"):  # 50 MB of zeros, streamed, never in memory
            h.send_response(200)
            h.send_header("Content-Type", "image/png")
            if path == "/big":
                h.send_header("Content-Length", str(FIFTY_MB))
            else:  # the body ends when the connection does
                h.send_header("Connection", "close")
                h.close_connection = True
            h.end_headers()
            for _ in range(FIFTY_MB // len(CHUNK)):
                if self.stop.is_set():
                    break
                h.wfile.write(CHUNK)
        elif path == "/slow":
            self.stop.wait(10)
            self.send(h, 200, "image/jpeg", self.jpeg)
        elif path == "/drip":
            h.send_response(200)
            h.send_header("Content-Type", "image/jpeg")
            h.send_header("Content-Length", "1000")
            h.end_headers()
            for _ in range(1000):
                h.wfile.write(b"\xff")
                h.wfile.flush()
                if self.stop.wait(0.05):
                    break
        elif path == "/busy":  # counts requests the server is working on at the same time
            with self.lock:
                self.busy += 1
                self.max_busy = max(self.max_busy, self.busy)
            self.stop.wait(0.3)
            with self.lock:
                self.busy -= 1
            self.send(h, 200, "image/jpeg", self.jpeg)
        elif path.startswith("/chain/"):
            n = int(path.rsplit("/", 1)[1])
            if n == 0:
                self.send(h, 200, "image/jpeg", self.jpeg)
            else:
                self.redirect(h, f"/chain/{n - 1}", 307 if n % 2 else 302)
        elif path == "/loop":
            self.redirect(h, "/loop")
        elif path == "/to":
            self.redirect(h, query["u"][0])
        else:
            self.send(h, 404, "text/plain", b"no route")

    @staticmethod
    def send(h: BaseHTTPRequestHandler, status: int, content_type: str, body: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    @staticmethod
    def redirect(h: BaseHTTPRequestHandler, location: str, status: int = 302) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()


@pytest.fixture(scope="module")
def server(clothing_images: list[Path]) -> Iterator[Server]:
    with running(Server(clothing_images[0].read_bytes())) as srv:
        yield srv


@contextlib.contextmanager
def running(srv: Server) -> Iterator[Server]:
    srv.thread.start()
    try:
        yield srv
    finally:
        srv.stop.set()
        srv.httpd.shutdown()
        srv.httpd.server_close()
        srv.thread.join(5)


@pytest.fixture
def fetcher(server: Server) -> Iterator[UrlFetcher]:
    f = UrlFetcher(
        timeout_s=2.0,
        max_bytes=MAX_BYTES,
        max_redirects=3,
        concurrency=4,
        allow_private=False,
        allow_hosts={f"127.0.0.1:{server.port}"},
    )
    yield f
    f.close()


def fetch_error(fetcher: UrlFetcher, url: str) -> FetchError:
    with pytest.raises(FetchError) as info:
        fetcher.fetch(url)
    assert isinstance(info.value, ImageError)
    return info.value


def off_host_attempts(log: ConnectLog) -> list[str]:
    return [a for a in log.addresses if a != "127.0.0.1"]


# --- successful fetches -------------------------------------------------------------------


def test_fetches_a_real_jpeg(fetcher: UrlFetcher, server: Server) -> None:
    got = fetcher.fetch(server.url("/good.jpg"))
    assert got == FetchedImage(server.jpeg, "image/jpeg", server.url("/good.jpg"))
    assert decode_image(got.data, max_bytes=MAX_BYTES, max_pixels=10**7).format == "jpeg"


def test_octet_stream_is_accepted_for_the_decoder_to_judge(
    fetcher: UrlFetcher, server: Server
) -> None:
    got = fetcher.fetch(server.url("/octet"))
    assert (got.data, got.content_type) == (server.jpeg, "application/octet-stream")


def test_redirect_chain_within_the_limit(fetcher: UrlFetcher, server: Server) -> None:
    got = fetcher.fetch(server.url("/chain/3") + "#fragment")
    assert got.data == server.jpeg
    assert got.final_url == server.url("/chain/0")


def test_connections_are_pooled(
    fetcher: UrlFetcher, server: Server, network_guard: ConnectLog
) -> None:
    for _ in range(3):
        fetcher.fetch(server.url("/good.jpg"))
    assert len(network_guard.addresses) == 1


# --- content and size checks --------------------------------------------------------------


def test_html_page_is_not_an_image(fetcher: UrlFetcher, server: Server) -> None:
    err = fetch_error(fetcher, server.url("/page.html"))
    assert (err.code, err.status) == ("not_an_image", 422)
    assert "text/html" in err.message
    copy = pickle.loads(pickle.dumps(err))
    assert (type(copy), copy.code, copy.status, copy.message) == (
        FetchError, err.code, err.status, err.message)


def test_upstream_error_status(fetcher: UrlFetcher, server: Server) -> None:
    err = fetch_error(fetcher, server.url("/missing"))
    assert (err.code, err.status) == ("upstream_status", 422)
    assert "404" in err.message


def test_compressed_body_is_refused(fetcher: UrlFetcher, server: Server) -> None:
    assert fetch_error(fetcher, server.url("/gzip")).code == "unsupported_encoding"


@pytest.mark.parametrize("path", ["/big", "/big-nolength"])
def test_fifty_megabytes_are_cut_off(fetcher: UrlFetcher, server: Server, path: str) -> None:
    err = fetch_error(fetcher, server.url(path))
    assert (err.code, err.status) == ("too_large", 422)
    # The next fetch still works: the aborted connection was not reused.
    assert fetcher.fetch(server.url("/good.jpg")).data == server.jpeg


def test_slow_server_times_out(server: Server) -> None:
    with UrlFetcher(0.5, MAX_BYTES, 3, 2, False, {f"127.0.0.1:{server.port}"}) as f:
        err = fetch_error(f, server.url("/slow"))
    assert (err.code, err.status) == ("fetch_timeout", 504)


def test_dripping_body_hits_the_total_deadline(server: Server) -> None:
    with UrlFetcher(
        2.0, MAX_BYTES, 3, 2, False, {f"127.0.0.1:{server.port}"}, total_timeout_s=0.5
    ) as f:
        err = fetch_error(f, server.url("/drip"))
    assert err.code == "fetch_timeout"


# --- redirects ----------------------------------------------------------------------------


def test_too_many_redirects(fetcher: UrlFetcher, server: Server) -> None:
    err = fetch_error(fetcher, server.url("/chain/4"))
    assert (err.code, err.status) == ("too_many_redirects", 422)
    assert fetch_error(fetcher, server.url("/loop")).code == "too_many_redirects"


def test_zero_redirects_allowed(server: Server) -> None:
    with UrlFetcher(2.0, MAX_BYTES, 0, 2, False, {f"127.0.0.1:{server.port}"}) as f:
        assert f.fetch(server.url("/chain/0")).data == server.jpeg
        assert fetch_error(f, server.url("/chain/1")).code == "too_many_redirects"


@pytest.mark.parametrize(
    "target",
    [
        "http://10.0.0.1/x.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://192.168.1.1:8080/a.png",
        "http://0.0.0.0:{port}/good.jpg",
        "http://localhost:{port}/good.jpg",  # resolves to 127.0.0.1; only the IP is allowed
        "http://[::1]:{port}/good.jpg",
    ],
)
def test_redirect_to_a_private_address_is_blocked_before_connecting(
    fetcher: UrlFetcher, server: Server, network_guard: ConnectLog, target: str
) -> None:
    target = target.format(port=server.port)
    err = fetch_error(fetcher, server.url("/to?u=" + target))
    assert (err.code, err.status) == ("blocked_url", 422)
    assert off_host_attempts(network_guard) == []
    assert server.paths[-1].startswith("/to?")  # the target itself was never requested


@pytest.mark.parametrize(
    "target", ["ftp://example.com/a.jpg", "file:///etc/passwd", "http://a:99999/"]
)
def test_redirect_to_a_bad_url(fetcher: UrlFetcher, server: Server, target: str) -> None:
    err = fetch_error(fetcher, server.url("/to?u=" + target))
    assert (err.code, err.status) == ("invalid_url", 422)  # the server's fault, not the caller's


def test_unparsable_redirect_is_a_bad_upstream(fetcher: UrlFetcher, server: Server) -> None:
    err = fetch_error(fetcher, server.url("/to?u=http://[::1"))
    assert (err.code, err.status) == ("fetch_failed", 502)
    assert "location" in err.message.lower()


def test_relative_redirect(fetcher: UrlFetcher, server: Server) -> None:
    assert fetcher.fetch(server.url("/to?u=good.jpg")).data == server.jpeg


# --- direct URLs and the address rule -----------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/good.jpg",  # allow_hosts names another port
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://[fd00:ec2::254]/",
        "http://10.0.0.1/a.jpg",
        "http://[::1]/a.jpg",
        "http://[::ffff:127.0.0.1]/a.jpg",
        "http://[::ffff:a9fe:a9fe]/a.jpg",
        "http://2130706433/a.jpg",  # 127.0.0.1 in decimal
        "http://127.1/a.jpg",
        "http://localhost:{port}/good.jpg",
        "http://224.0.0.1/a.jpg",
        "https://100.100.100.200/latest/meta-data/",
    ],
)
def test_direct_private_urls_are_blocked(
    server: Server, network_guard: ConnectLog, url: str
) -> None:
    with UrlFetcher(2.0, MAX_BYTES, 3, 2, False, {"127.0.0.1:1"}) as f:
        err = fetch_error(f, url.format(port=server.port))
    assert (err.code, err.status) == ("blocked_url", 422)
    assert network_guard.addresses == []


def test_localhost_is_blocked_through_dns(server: Server, network_guard: ConnectLog) -> None:
    with UrlFetcher(2.0, MAX_BYTES, 3, 2, False) as f:
        err = fetch_error(f, server.url("/good.jpg", host="localhost"))
    assert "resolves to 127.0.0.1" in err.message
    assert network_guard.addresses == []


def test_allow_private_and_allow_hosts_open_the_door(server: Server) -> None:
    with UrlFetcher(2.0, MAX_BYTES, 3, 2, True) as f:
        assert f.fetch(server.url("/good.jpg", host="localhost")).data == server.jpeg
    with UrlFetcher(2.0, MAX_BYTES, 3, 2, False, {f"LOCALHOST:{server.port}"}) as f:
        assert f.fetch(server.url("/good.jpg", host="localhost")).data == server.jpeg
    with UrlFetcher(2.0, MAX_BYTES, 3, 2, False, {"127.0.0.1"}) as f:  # any port
        assert f.fetch(server.url("/good.jpg")).data == server.jpeg


def test_connection_goes_to_the_checked_address(server: Server) -> None:
    """The name is resolved once, by the guard, and the socket connects to that answer."""
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    with UrlFetcher(2.0, MAX_BYTES, 3, 2, True, resolver=resolver) as f:
        got = f.fetch(f"http://images.example:{server.port}/good.jpg")
    assert got.data == server.jpeg
    assert calls == ["images.example"]
    assert server.hosts[-1] == f"images.example:{server.port}"


def test_any_private_answer_blocks_the_host(network_guard: ConnectLog) -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14", "10.1.2.3"]

    with UrlFetcher(2.0, MAX_BYTES, 3, 2, False, resolver=resolver) as f:
        err = fetch_error(f, "https://mixed.example/a.jpg")
    assert err.code == "blocked_url" and "10.1.2.3" in err.message
    assert network_guard.addresses == []


def test_unresolvable_host(network_guard: ConnectLog) -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with UrlFetcher(2.0, MAX_BYTES, 3, 2, False, resolver=resolver) as f:
        err = fetch_error(f, "http://no-such-host.example/a.jpg")
    assert (err.code, err.status) == ("dns_failed", 422)
    assert network_guard.addresses == []


def test_refused_connection(server: Server) -> None:
    with socket.socket() as s:  # a port that was free a moment ago
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with UrlFetcher(1.0, MAX_BYTES, 3, 2, True) as f:
        err = fetch_error(f, f"http://127.0.0.1:{port}/a.jpg")
    assert (err.code, err.status) == ("fetch_failed", 502)


@pytest.mark.parametrize(
    "url", ["", "not a url", "ftp://example.com/a.jpg", "file:///etc/passwd", "http://",
            "javascript:alert(1)", "//example.com/a.jpg",
            "http://example.com:99999/", "http://" + "a" * 9000 + ".com/"],
)
def test_invalid_urls(fetcher: UrlFetcher, network_guard: ConnectLog, url: str) -> None:
    err = fetch_error(fetcher, url)
    assert (err.code, err.status) == ("invalid_url", 400)
    assert network_guard.addresses == []


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("8.8.8.8", True), ("2606:4700:4700::1111", True), ("93.184.215.14", True),
        ("127.0.0.1", False), ("10.0.0.1", False), ("172.16.5.4", False),
        ("192.168.0.1", False), ("169.254.169.254", False), ("100.64.0.1", False),
        ("100.100.100.200", False), ("168.63.129.16", False), ("192.0.0.192", False),
        ("0.0.0.0", False), ("255.255.255.255", False), ("224.0.0.1", False),
        ("233.252.0.1", False), ("198.18.0.1", False), ("240.0.0.1", False),
        ("::", False), ("::1", False), ("fd00:ec2::254", False), ("fe80::1", False),
        ("ff02::1", False), ("::ffff:127.0.0.1", False), ("::ffff:8.8.8.8", True),
        ("64:ff9b::a9fe:a9fe", False), ("2002:7f00:1::", False), ("2001:db8::1", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


# --- concurrency and async ----------------------------------------------------------------


def test_concurrency_limit_sync(server: Server) -> None:
    with UrlFetcher(5.0, MAX_BYTES, 3, 2, False, {f"127.0.0.1:{server.port}"}) as f:
        server.max_busy = 0
        results: list[bytes] = []
        threads = [
            threading.Thread(target=lambda: results.append(f.fetch(server.url("/busy")).data))
            for _ in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [server.jpeg] * 6
    assert server.max_busy <= 2


def test_from_settings(server: Server) -> None:
    settings = load_settings(
        fetch_timeout_s=3, max_upload_bytes=4096, fetch_max_redirects=1, fetch_concurrency=5,
        fetch_allow_hosts=[f"127.0.0.1:{server.port}"],
    )
    f = UrlFetcher.from_settings(settings)
    try:
        assert (f.timeout_s, f.max_bytes, f.max_redirects, f.concurrency) == (3, 4096, 1, 5)
        assert fetch_error(f, server.url("/good.jpg")).code == "too_large"  # 4 KB limit
        assert fetch_error(f, server.url("/chain/2")).code == "too_many_redirects"
    finally:
        f.close()


# --- TLS: the pinned address must not weaken certificate checks ---------------------------


def make_certs(folder: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a server certificate for images.example, made with openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl command not found")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ext = folder / "ext.cnf"
    ext.write_text("subjectAltName=DNS:images.example\nbasicConstraints=CA:FALSE\n"
                   "extendedKeyUsage=serverAuth\n")
    for args in (
        ["req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
         "-subj", "/CN=visearch test CA"],
        ["req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=images.example"],
        ["x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf"],
    ):
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True)
    return folder / "ca.pem", folder / "srv.pem", folder / "srv.key"


def test_https_verifies_the_host_name_while_connecting_to_the_pinned_address(
    tmp_path: Path, clothing_images: list[Path]
) -> None:
    ca, cert, key = make_certs(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    client_tls = ssl.create_default_context(cafile=str(ca))

    def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]  # every name points at the local test server

    with running(Server(clothing_images[0].read_bytes(), tls=server_tls)) as srv:
        base = f"images.example:{srv.port}"
        with UrlFetcher(2.0, MAX_BYTES, 3, 2, False, {base}, resolver=resolver,
                        ssl_context=client_tls) as f:
            assert f.fetch(f"https://{base}/good.jpg").data == srv.jpeg
            assert srv.hosts[-1] == base
        with UrlFetcher(2.0, MAX_BYTES, 3, 2, True, resolver=resolver,
                        ssl_context=client_tls) as f:
            err = fetch_error(f, f"https://other.example:{srv.port}/good.jpg")
            assert (err.code, err.status) == ("fetch_failed", 502)
            assert "certificate" in err.message.lower()
