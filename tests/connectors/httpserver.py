"""A scripted HTTP server on 127.0.0.1 for connector tests.

Each test queues the replies a route gives, in order (the last one repeats), and reads
back what the server received. Real sockets, so the client's timeouts, retries, TLS and
address guard are exercised as in production, without patching requests.
"""

from __future__ import annotations

import datetime
import json
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int = 200
    json: Any = None  # sent as application/json when not None
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering
    truncate_to: int | None = None  # send only this many body bytes, then close; Content-Length stays full


@dataclass
class Received:
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes


Route = Reply | Callable[[Received], Reply]


class ScriptedServer:
    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None):
        self.received: list[Received] = []
        self.max_active = 0
        self._active = 0
        self._routes: dict[tuple[str, str], list[Route]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd = _Server((host, 0), _Handler)
        self._httpd.scripted = self
        if tls is not None:
            self._httpd.socket = tls.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def route(self, path: str, *replies: Route, method: str = "GET") -> None:
        """Answer method+path with these replies in turn; a path with a query matches only that query."""
        self._routes[(method, path)] = list(replies)

    @property
    def paths(self) -> list[str]:
        return [request.path for request in self.received]

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stopping.set()  # ends delayed replies early
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _reply_for(self, request: Received) -> Reply:
        with self._lock:
            self.received.append(request)
            replies = self._routes.get((request.method, request.path))
            if replies is None:
                replies = self._routes.get((request.method, urlsplit(request.path).path))
            if not replies:
                return Reply(404, json={"message": "Not Found"})
            route = replies.pop(0) if len(replies) > 1 else replies[0]
        return route(request) if callable(route) else route

    def _handle(self, handler: _Handler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        request = Received(
            method=handler.command,
            path=handler.path,
            headers={name.lower(): value for name, value in handler.headers.items()},
            body=handler.rfile.read(length) if length else b"",
        )
        reply = self._reply_for(request)
        with self._lock:
            self._active += 1
            self.max_active = max(self.max_active, self._active)
        try:
            if reply.delay and self._stopping.wait(reply.delay):
                handler.close_connection = True
                return
            _write(handler, request, reply)
        finally:
            with self._lock:
                self._active -= 1


def _write(handler: _Handler, request: Received, reply: Reply) -> None:
    headers = dict(reply.headers)
    etag = next((value for name, value in headers.items() if name.lower() == "etag"), None)
    if etag is not None and request.headers.get("if-none-match") == etag:
        handler.send_response(304)
        for name, value in headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
        return
    body = reply.body.encode() if isinstance(reply.body, str) else reply.body
    if reply.json is not None:
        body = json.dumps(reply.json).encode()
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
    handler.send_response(reply.status)
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    if reply.truncate_to is not None:
        body = body[: reply.truncate_to]
        handler.close_connection = True
    if request.method != "HEAD":
        handler.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    scripted: ScriptedServer

    def handle_error(self, request, client_address) -> None:
        # A client that timed out and hung up is what some tests provoke; stay quiet.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self.server.scripted._handle(self)

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format, *args) -> None:
        pass


def tls_files(directory: Path, hostname: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a certificate for hostname signed by it: (ca.pem, cert.pem, key.pem)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "PipeAccess test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path
