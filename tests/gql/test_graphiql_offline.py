"""GraphiQL works without internet: its scripts and style sheets come from the app (gql/graphiql.py).

Over HTTP (no browser): the page references no other host, every asset it references is served
with the right content type, cache headers and integrity, and nothing is served with GraphiQL
disabled. In headless Chromium (skipped when none is installed; .ci/run installs Debian's
``chromium``): the page served by a real uvicorn renders GraphiQL's editor while every request
to another host fails (a dead proxy, and no name resolution).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from strawberry.http.ides import get_graphql_ide_html

from gql.app import create_app
from gql.graphiql import ASSET_DIR, CACHE_CONTROL, STATIC_PATH, load_assets, package_dir, read_manifest

PAGE = "http://test/graphql"
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
CONTENT_TYPES = {"script": "text/javascript", "stylesheet": "text/css"}


class _References(HTMLParser):
    """The page's <script src> and <link rel=stylesheet href>, as (kind, url, integrity)."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str, str | None]] = []
        self.other_links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.found.append(("script", a["src"] or "", a.get("integrity")))
        elif tag == "link" and a.get("href"):
            if (a.get("rel") or "").lower() == "stylesheet":
                self.found.append(("stylesheet", a["href"] or "", a.get("integrity")))
            else:
                self.other_links.append(a["href"] or "")


def references(html: str) -> _References:
    parser = _References()
    parser.feed(html)
    parser.close()
    return parser


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


async def page(client: httpx.AsyncClient) -> str:
    res = await client.get("/graphql", headers=HTML)
    assert res.status_code == 200 and res.headers["content-type"].startswith("text/html")
    return res.text


# ------------------------------------------------------------------------------ over HTTP


async def test_the_page_loads_nothing_from_another_host(api: Any) -> None:
    html = await page(api.client)
    refs = references(html)
    kinds = sorted(kind for kind, _, _ in refs.found)
    assert kinds == ["script"] * 5 + ["stylesheet"] * 2, refs.found
    for _, url, _ in refs.found:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc, f"{url} is loaded from another host"
        assert urlsplit(urljoin(PAGE, url)).path.startswith(STATIC_PATH + "/"), url
    for href in refs.other_links:  # the favicon is an inline SVG
        assert href.startswith("data:"), href
    for cdn in ("unpkg.com", "jsdelivr", "esm.sh", "cdnjs"):
        assert cdn not in html
    # the page is still ours: title, the Authorization template in the headers editor
    assert "<title>Licensing GraphiQL</title>" in html
    assert "defaultHeaders:" in html and "paste a token from `licensing token`" in html


async def test_every_asset_the_page_references_is_served(api: Any) -> None:
    refs = references(await page(api.client)).found
    for kind, url, integrity in refs:
        res = await api.client.get(urljoin(PAGE, url), headers={"Accept-Encoding": "identity"})
        assert res.status_code == 200, url
        assert res.headers["content-type"] == f"{CONTENT_TYPES[kind]}; charset=utf-8", url
        assert res.headers["cache-control"] == CACHE_CONTROL
        assert res.headers["x-content-type-options"] == "nosniff"
        assert "content-encoding" not in res.headers
        assert integrity == sri(res.content), f"{url}: the page's integrity does not match the file"


async def test_assets_are_gzipped_when_accepted_and_revalidate_with_304(api: Any) -> None:
    url = next(url for _, url, _ in references(await page(api.client)).found if url.endswith("graphiql.min.js"))
    plain = await api.client.get(urljoin(PAGE, url), headers={"Accept-Encoding": "identity"})
    async with api.client.stream("GET", urljoin(PAGE, url), headers={"Accept-Encoding": "gzip, br"}) as res:
        raw = b"".join([chunk async for chunk in res.aiter_raw()])
    assert res.headers["content-encoding"] == "gzip" and res.headers["vary"] == "Accept-Encoding"
    assert len(raw) < len(plain.content) / 2 and gzip.decompress(raw) == plain.content
    refused = await api.client.get(urljoin(PAGE, url), headers={"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers
    again = await api.client.get(urljoin(PAGE, url), headers={"If-None-Match": plain.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["cache-control"] == CACHE_CONTROL


async def test_only_the_manifests_files_and_licenses_are_served(api: Any) -> None:
    for package in read_manifest()["packages"]:
        res = await api.client.get(f"{STATIC_PATH}/{package_dir(package['name'], package['version'])}/LICENSE")
        assert res.status_code == 200 and res.headers["content-type"] == "text/plain; charset=utf-8"
        assert "MIT License" in res.text and "Permission is hereby granted" in res.text
    for path in ("manifest.json", ".gitattributes", "", "react-18.2.0/", "react-18.2.0/umd/react.development.js",
                 "../graphiql.py", "react-18.2.0/../manifest.json", "%2e%2e/graphiql.py"):
        assert (await api.client.get(f"{STATIC_PATH}/{path}")).status_code == 404, path


async def test_graphiql_disabled_serves_no_assets(settings: Any, database_url: str) -> None:
    app = create_app(settings.model_copy(update={"graphiql": False}), database_url, run_lifecycle_job=False)
    asset = next(iter(load_assets()))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        assert (await client.get("/graphql", headers=HTML)).status_code == 404
        assert (await client.get(f"{STATIC_PATH}/{asset}")).status_code == 404


def test_the_vendored_files_are_the_ones_the_manifest_records() -> None:
    """Each file's digest is the manifest's (refreshed by scripts/refresh_graphiql_assets.py) and,
    for a version Strawberry's page references too, the integrity value of Strawberry's page:
    the files are the published npm builds, byte for byte."""
    strawberry_integrity = {
        url: integrity for _, url, integrity in references(get_graphql_ide_html("graphiql")).found
    }
    compared = 0
    for package in read_manifest()["packages"]:
        base = ASSET_DIR / package_dir(package["name"], package["version"])
        assert (base / "LICENSE").is_file(), f"{package['name']} has no LICENSE"
        for path, digest in package["files"].items():
            assert sri((base / path).read_bytes()) == digest, f"{base / path} differs from the manifest"
            cdn = f"https://unpkg.com/{package['name']}@{package['version']}/{path}"
            if cdn in strawberry_integrity:
                assert strawberry_integrity[cdn] == digest, cdn
                compared += 1
    vendored = {p for p in ASSET_DIR.glob("*/**/*") if p.is_file()}
    served = {ASSET_DIR / asset for asset in load_assets()}
    assert vendored == served, "files in gql/static/graphiql/ that the manifest does not list"
    assert compared == 7, "the pinned versions are no longer Strawberry's: compare the page by hand"


def test_the_assets_are_package_data() -> None:
    """pyproject.toml's package-data patterns cover every served file (so a non-editable install has them)."""
    import tomllib

    patterns = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["gql"]
    gql = Path(__file__).parents[2] / "gql"
    shipped = {p for pattern in patterns for p in gql.glob(pattern) if p.is_file()}
    assert ASSET_DIR / "manifest.json" in shipped
    assert {ASSET_DIR / asset for asset in load_assets()} <= shipped


# ------------------------------------------------------------------------------ in Chromium


def _chromium() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if candidate and (found := shutil.which(candidate)):
            return found
    return None


@pytest.fixture(scope="module")
def live_server(database_url: str, settings: Any) -> Iterator[str]:
    """The real app under uvicorn on 127.0.0.1 (a free port), in a thread."""
    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings, database_url, run_lifecycle_job=False)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def test_graphiql_renders_in_headless_chromium_without_internet(live_server: str, tmp_path: Path) -> None:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("no Chromium found (set CHROMIUM, or install Debian's chromium package as .ci/run does)")
    command = [
        chromium,
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-extensions", "--disable-default-apps", "--mute-audio",
        f"--user-data-dir={tmp_path / 'profile'}",
        # no internet: other hosts go to a proxy that refuses, and do not resolve anyway
        "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=15000", "--dump-dom", f"{live_server}/graphql",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    dom = done.stdout
    diagnostics = f"exit {done.returncode}\nDOM: {dom[:3000]}\nstderr: {done.stderr[-4000:]}"
    assert done.returncode == 0, diagnostics
    # The page's own <div id="graphiql" class="graphiql-container">Loading...</div> is replaced
    # by GraphiQL's: sessions, the query editor (CodeMirror), the explorer plugin's button.
    assert "Loading..." not in dom, diagnostics
    for marker in ("graphiql-sessions", "graphiql-query-editor", "CodeMirror", "Show GraphiQL Explorer"):
        assert marker in dom, f"{marker!r} not rendered\n{diagnostics}"
    assert "Welcome to GraphiQL" in dom  # the example query, in the editor
    assert not re.search(r"Failed to find a valid digest|integrity", done.stderr), diagnostics
    # the headers editor (CodeMirror, not just the page's script) shows the Authorization template
    assert re.search(r'cm-property">"Authorization"</span>: <span class="cm-string">"Bearer &lt;paste a token', dom), diagnostics
