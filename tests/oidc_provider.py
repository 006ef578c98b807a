"""A local OpenID provider for the tests (R31): a small HTTP server on 127.0.0.1, in a thread,
serving `<issuer>/.well-known/openid-configuration` and a JWK set for any number of issuers
(`http://127.0.0.1:PORT/<realm>`), with RSA and EC keys made by `cryptography`. It counts the
requests, can rotate keys, and can be stopped and started again on the same port (downtime).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

DISCOVERY = "/.well-known/openid-configuration"


@dataclass
class SigningKey:
    kid: str
    alg: str  # RS256, PS256 or ES256
    private: Any

    published_alg: str | None = None  # the `alg` member of its JWK, when it has one

    def public_jwk(self) -> dict[str, Any]:
        algorithm = ECAlgorithm if self.alg == "ES256" else RSAAlgorithm
        jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        jwk = {**jwk, "kid": self.kid, "use": "sig"}
        return {**jwk, "alg": self.published_alg} if self.published_alg else jwk


def new_key(alg: str = "RS256", kid: str | None = None) -> SigningKey:
    private: Any = (
        ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    return SigningKey(kid or f"{alg.lower()}-{uuid.uuid4().hex[:8]}", alg, private)


@dataclass
class Realm:
    """One issuer of the provider: its published keys and how often they were asked for."""

    provider: OpenIdProvider
    name: str
    keys: list[SigningKey] = field(default_factory=list)
    discovery_requests: int = 0
    jwks_requests: int = 0

    @property
    def issuer(self) -> str:
        return f"{self.provider.base_url}/{self.name}"

    def publish(self, key: SigningKey) -> SigningKey:
        self.keys.append(key)
        return key

    def token(self, key: SigningKey, *, audience: Any, ttl: int = 600, headers: dict[str, Any] | None = None,
              **claims: Any) -> str:
        now = int(time.time())
        payload = {"iss": self.issuer, "aud": audience, "sub": f"sub-{uuid.uuid4().hex[:8]}", "iat": now, "exp": now + ttl}
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key.private, algorithm=key.alg, headers={"kid": key.kid, **(headers or {})})


class OpenIdProvider:
    def __init__(self) -> None:
        self.realms: dict[str, Realm] = {}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        self.delay = 0.0  # seconds before each answer (a slow provider)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def realm(self, *keys: SigningKey) -> Realm:
        realm = Realm(self, f"realm-{uuid.uuid4().hex[:10]}", list(keys))
        self.realms[realm.name] = realm
        return realm

    def start(self) -> None:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                time.sleep(provider.delay)
                name, _, rest = self.path.lstrip("/").partition("/")
                realm = provider.realms.get(name)
                if realm is None:
                    self._send(404, {"error": "no such realm"})
                elif "/" + rest == DISCOVERY:
                    realm.discovery_requests += 1
                    self._send(200, {"issuer": realm.issuer, "jwks_uri": f"{realm.issuer}/keys",
                                     "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256"]})
                elif rest == "keys":
                    realm.jwks_requests += 1
                    self._send(200, {"keys": [k.public_jwk() for k in realm.keys]})
                else:
                    self._send(404, {"error": "not found"})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                with contextlib.suppress(ConnectionError):  # a client that gave up (the slow-provider test)
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Downtime: nothing listens on the port until start() again."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
