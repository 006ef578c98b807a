"""A real HTTP receiver for webhook tests, on 127.0.0.1 in a thread (http.server), and a
Standard Webhooks signature check written independently of the library: HMAC-SHA256 over
"id.timestamp.body" with the base64 key after "whsec_"."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def events(self) -> list[dict[str, Any]]:
        return list(json.loads(self.body)["events"])

    @property
    def message_id(self) -> str:
        return self.headers["webhook-id"]


def signature_ok(secret: str, r: Received) -> bool:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{r.headers['webhook-id']}.{r.headers['webhook-timestamp']}.".encode() + r.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = r.headers["webhook-signature"].split(" ")
    fresh = abs(time.time() - int(r.headers["webhook-timestamp"])) < 300
    return fresh and any(hmac.compare_digest(expected, s) for s in offered)


DROP = 0  # a planned "status": close the connection without answering


class Receiver:
    """Answers each POST with the next planned status (then `default`), recording it;
    `keep_alive`: HTTP/1.1, connections kept open between requests (counted in `connections`)."""

    def __init__(self, *, keep_alive: bool = False) -> None:
        self.received: list[Received] = []
        self.connections = 0
        self.plan: list[int] = []
        self.default = 204
        self.got_one = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

            def setup(self) -> None:
                super().setup()
                receiver.connections += 1

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.plan.pop(0) if receiver.plan else receiver.default
                if status == DROP:
                    self.close_connection = True  # no answer: the connection just closes
                    return
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:9/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.got_one.set()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
