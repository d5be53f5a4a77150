"""A real forwarding reverse proxy on loopback, configured like a bare nginx ``proxy_pass``.

By default it forwards every request as is, sets ``Host`` to the upstream (nginx's
``$proxy_host``) and adds no forwarding header, so the app sees every client as the
proxy's loopback address. ``set_headers`` makes it behave like a configured proxy, e.g.
``{"X-Real-IP": "{client}"}`` or ``{"X-Forwarded-For": "{append}"}`` (append the client
address to what the client sent, as ``$proxy_add_x_forwarded_for`` does); ``keep_host``
passes the browser's ``Host`` on (``proxy_set_header Host $host``). ``client_ip``
pretends the client connected from that address (the tests all run on one machine).
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


class ForwardProxy:
    def __init__(
        self,
        upstream: str,
        set_headers: dict[str, str] | None = None,
        client_ip: str | None = None,
        keep_host: bool = False,
    ):
        host, _, port = upstream.removeprefix("http://").rstrip("/").partition(":")
        self.upstream = (host, int(port or 80))
        self.set_headers = dict(set_headers or {})
        self.client_ip = client_ip
        self.keep_host = keep_host  # nginx `proxy_set_header Host $host`
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def log_message(self, *args) -> None:
                pass

            def _forward(self) -> None:
                proxy.forward(self)

            do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def headers_for(self, handler: BaseHTTPRequestHandler) -> dict[str, str]:
        client = self.client_ip or handler.client_address[0]
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP_BY_HOP}
        if not self.keep_host:
            headers = {k: v for k, v in headers.items() if k.lower() != "host"}
            headers["Host"] = f"{self.upstream[0]}:{self.upstream[1]}"
        for name, value in self.set_headers.items():
            sent = next((v for k, v in headers.items() if k.lower() == name.lower()), "")
            headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
            if value == "{append}":
                value = f"{sent}, {client}" if sent else client
            headers[name] = value.replace("{client}", client)
        return headers

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        conn = http.client.HTTPConnection(*self.upstream, timeout=120)
        try:
            conn.request(
                handler.command, handler.path, body=body, headers=self.headers_for(handler)
            )
            reply = conn.getresponse()
            handler.send_response_only(reply.status, reply.reason)
            for name, value in reply.getheaders():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    handler.send_header(name, value)
            handler.send_header("Connection", "close")
            handler.end_headers()
            while chunk := reply.read1(65536):
                handler.wfile.write(chunk)
                handler.wfile.flush()
        except (ConnectionError, TimeoutError):
            pass
        finally:
            conn.close()

    def __enter__(self) -> ForwardProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
