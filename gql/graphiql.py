"""GraphiQL without internet: its browser assets served by the app itself (D23).

Strawberry's GraphiQL page loads React, ReactDOM, js-cookie, GraphiQL and the explorer plugin
(scripts and style sheets) from unpkg.com; on a machine without internet the page stays at
"Loading...". The same files, byte for byte (the npm packages' published builds, with their
licenses), are vendored in ``gql/static/graphiql/`` and pinned in its ``manifest.json``
(refreshed from the npm registry by ``scripts/refresh_graphiql_assets.py``).

* ``offline_graphiql_html(html)`` points the page's CDN ``<script src>``/``<link href>`` at
  them, with ``integrity`` computed from the vendored bytes.
* ``graphiql_asset_routes(enabled)`` serves them under ``/graphql/static/graphiql/…`` (only
  the manifest's files and their LICENSE files; nothing when GraphiQL is disabled), cacheable
  for a year (the version is in the path), gzip-compressed when the browser accepts it.

The page refers to the assets by a URL relative to itself (GraphiQL is served at ``/graphql``),
so it also works behind a reverse proxy that mounts the service under a path prefix.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = [
    "ASSET_DIR",
    "STATIC_PATH",
    "Asset",
    "graphiql_asset_routes",
    "load_assets",
    "offline_graphiql_html",
]

log = logging.getLogger(__name__)

ASSET_DIR = Path(__file__).resolve().parent / "static" / "graphiql"
#: Where the assets are served; GraphiQL itself is at /graphql (see the module docstring).
STATIC_PATH = "/graphql/static/graphiql"
CACHE_CONTROL = "public, max-age=31536000, immutable"
_MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css"}

# https://unpkg.com/react@18.2.0/umd/react.production.min.js, also jsDelivr's /npm/ form
_CDN_URL = re.compile(
    r"https://(?:unpkg\.com|cdn\.jsdelivr\.net/npm)/"
    r"(?P<name>(?:@[^/@\s\"']+/)?[^/@\s\"']+)@(?P<version>[^/\s\"']+)/(?P<path>[^?#\s\"']+)"
)
_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
_URL_ATTR = re.compile(r"""\b(?P<attr>src|href)\s*=\s*(?P<q>["'])(?P<url>.*?)(?P=q)""", re.IGNORECASE | re.DOTALL)
_INTEGRITY_ATTR = re.compile(r"""\bintegrity\s*=\s*(?P<q>["']).*?(?P=q)""", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class Asset:
    package: str  # npm name, e.g. "@graphiql/plugin-explorer"
    version: str
    path: str  # inside the npm package, e.g. "dist/index.umd.js"; "LICENSE" for the license
    url_path: str  # below STATIC_PATH, e.g. "graphiql-plugin-explorer-1.0.2/dist/index.umd.js"
    body: bytes = field(repr=False)
    media_type: str
    integrity: str  # sha384-… of body (subresource integrity)

    @property
    def etag(self) -> str:
        return f'W/"{self.integrity[7:39]}"'

    @property
    def compressible(self) -> bool:
        return len(self.body) > 1024


def package_dir(name: str, version: str) -> str:
    """``@graphiql/plugin-explorer`` 1.0.2 -> ``graphiql-plugin-explorer-1.0.2`` (as the refresh script)."""
    return f"{name.lstrip('@').replace('/', '-')}-{version}"


def _sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


def read_manifest() -> dict[str, Any]:
    result: dict[str, Any] = json.loads((ASSET_DIR / "manifest.json").read_text(encoding="utf-8"))
    return result


@cache
def load_assets() -> dict[str, Asset]:
    """The manifest's files and each package's LICENSE, by ``url_path`` (read once per process)."""
    assets: dict[str, Asset] = {}
    for package in read_manifest()["packages"]:
        name, version = package["name"], package["version"]
        base = package_dir(name, version)
        for path in [*package["files"], "LICENSE"]:
            body = (ASSET_DIR / base / path).read_bytes()
            media_type = _MEDIA_TYPES.get(Path(path).suffix, "text/plain")
            url_path = f"{base}/{path}"
            assets[url_path] = Asset(name, version, path, url_path, body, media_type, _sri(body))
    return assets


def _local_asset(url: str) -> Asset | None:
    match = _CDN_URL.fullmatch(url.strip())
    if match is None:
        return None
    for asset in load_assets().values():
        if asset.package == match["name"] and asset.path == match["path"]:
            return asset
    return None


def _asset_href(asset: Asset) -> str:
    # Relative to the page: /graphql's directory is /, so "graphql/static/graphiql/…" is
    # STATIC_PATH, or PREFIX/graphql/static/… when a proxy serves the page at PREFIX/graphql.
    return f"{STATIC_PATH.lstrip('/')}/{asset.url_path}"


def offline_graphiql_html(html: str) -> str:
    """Strawberry's GraphiQL page with its CDN scripts and style sheets replaced by the vendored files.

    A CDN URL without a vendored file (after a Strawberry upgrade that references another
    package or file) is left as it is, with a warning: the page then still works online, and
    the tests (tests/gql/test_graphiql_offline.py) fail until the manifest is updated.
    """

    def rewrite_tag(tag_match: re.Match[str]) -> str:
        tag = tag_match.group(0)
        url_match = _URL_ATTR.search(tag)
        if url_match is None or not url_match["url"].strip().lower().startswith(("http:", "https:", "//")):
            return tag
        asset = _local_asset(url_match["url"])
        if asset is None:
            log.warning("GraphiQL page: no vendored asset for %s; it will load from there", url_match["url"])
            return tag
        q = url_match["q"]
        tag = tag[: url_match.start()] + f"{url_match['attr']}={q}{_asset_href(asset)}{q}" + tag[url_match.end() :]
        return _INTEGRITY_ATTR.sub(lambda m: f'integrity={m["q"]}{asset.integrity}{m["q"]}', tag)

    return _TAG.sub(rewrite_tag, html)


def _accepts_gzip(accept_encoding: str) -> bool:
    for part in accept_encoding.split(","):
        coding, *params = (piece.strip() for piece in part.split(";"))
        if coding.lower() in ("gzip", "*"):
            for param in params:
                name, _, value = param.partition("=")
                if name.strip().lower() == "q":
                    try:
                        return float(value) > 0
                    except ValueError:
                        return False
            return True
    return False


def graphiql_asset_routes(enabled: bool = True) -> list[BaseRoute]:
    """The route serving the vendored assets below STATIC_PATH; none when GraphiQL is disabled."""
    if not enabled:
        return []
    assets = load_assets()
    gzipped: dict[str, bytes] = {}

    async def serve(request: Request) -> Response:
        asset = assets.get(request.path_params["path"])
        if asset is None:
            return PlainTextResponse("Not Found", status_code=404)
        headers = {
            "Cache-Control": CACHE_CONTROL,
            "ETag": asset.etag,
            "Vary": "Accept-Encoding",
            "X-Content-Type-Options": "nosniff",
        }
        if asset.etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
            return Response(status_code=304, headers=headers)
        body = asset.body
        if asset.compressible and _accepts_gzip(request.headers.get("accept-encoding", "")):
            if asset.url_path not in gzipped:
                gzipped[asset.url_path] = await asyncio.to_thread(gzip.compress, asset.body, 6, mtime=0)
            body = gzipped[asset.url_path]
            headers["Content-Encoding"] = "gzip"
        return Response(body, media_type=asset.media_type, headers=headers)

    return [Route(STATIC_PATH + "/{path:path}", serve, methods=["GET", "HEAD"])]
