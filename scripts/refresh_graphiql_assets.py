#!/usr/bin/env python3
"""Refresh GraphiQL's vendored browser assets (gql/static/graphiql/) from the npm registry.

The packages, their versions and the files taken from each are pinned in one place,
gql/static/graphiql/manifest.json, which the server reads too (gql/graphiql.py). To change a
version, edit the manifest and run this script from the repository root:

    python3 scripts/refresh_graphiql_assets.py          # fetch, replace the files, update the manifest
    python3 scripts/refresh_graphiql_assets.py --check  # fetch, compare, change nothing (exit 1 if different)

It needs only Python 3.11 and npm (``npm pack NAME@VERSION`` downloads the published tarball, as
on https://unpkg.com, without installing anything or running package scripts). For each package
it copies the listed files and the package's LICENSE into ``<name>-<version>/`` (the npm name
without ``@``, ``/`` turned into ``-``), replacing every earlier subdirectory, and records each
file's ``sha384-…`` digest in the manifest (the subresource-integrity value, equal to the one
Strawberry's page uses when the version is the same).

Manifest entries: ``name``, ``version``, ``files`` (path inside the npm package -> digest, filled
in by this script), and either ``license`` (path of the license file inside the package) or
``license_from`` (another package in the manifest whose license applies, for a package that
publishes none; the copy says so), optionally ``bundled_in`` for a package whose code is
bundled in another's build and is listed only for its license.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "gql" / "static" / "graphiql"
MANIFEST = ASSETS / "manifest.json"


def package_dir(name: str, version: str) -> str:
    """``@graphiql/plugin-explorer`` 1.0.2 -> ``graphiql-plugin-explorer-1.0.2`` (as gql/graphiql.py)."""
    return f"{name.lstrip('@').replace('/', '-')}-{version}"


def sri(data: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode("ascii")


def npm_pack(specs: list[str], into: Path) -> dict[str, dict[str, Any]]:
    """``npm pack`` every spec into ``into``; returns npm's report (filename, integrity) by spec."""
    out = subprocess.run(
        ["npm", "pack", "--json", "--ignore-scripts", "--pack-destination", str(into), *specs],
        check=True, capture_output=True, text=True, cwd=into,
    ).stdout
    reports = json.loads(out)
    if len(reports) != len(specs):
        raise SystemExit(f"npm pack returned {len(reports)} packages for {len(specs)} specs")
    by_spec = {}
    for spec, report in zip(specs, reports, strict=True):
        if f"{report['name']}@{report['version']}" != spec:
            raise SystemExit(f"npm pack {spec} returned {report['name']}@{report['version']}")
        by_spec[spec] = report
    return by_spec


def read_member(tarball: Path, path: str) -> bytes:
    """One file of an npm tarball (its files live under ``package/``), read without extracting."""
    with tarfile.open(tarball, "r:gz") as tar:
        try:
            member = tar.getmember(f"package/{path}")
        except KeyError:
            raise SystemExit(f"{tarball.name} has no file {path}") from None
        if not member.isfile():
            raise SystemExit(f"{tarball.name}: {path} is not a regular file")
        handle = tar.extractfile(member)
        assert handle is not None
        return handle.read()


def collect(manifest: dict[str, Any], tmp: Path) -> tuple[dict[str, bytes], dict[str, Any]]:
    """The files to vendor (relative path -> bytes) and the manifest updated with their digests."""
    packages = manifest["packages"]
    specs = [f"{p['name']}@{p['version']}" for p in packages]
    reports = npm_pack(specs, tmp)
    tarballs = {p["name"]: tmp / reports[spec]["filename"] for p, spec in zip(packages, specs, strict=True)}
    files: dict[str, bytes] = {}
    updated = json.loads(json.dumps(manifest))
    for package, entry in zip(packages, updated["packages"], strict=True):
        name, version = package["name"], package["version"]
        base = package_dir(name, version)
        entry["npm_integrity"] = reports[f"{name}@{version}"]["integrity"]
        for path in package["files"]:
            data = read_member(tarballs[name], path)
            files[f"{base}/{path}"] = data
            entry["files"][path] = sri(data)
        if "license" in package:
            files[f"{base}/LICENSE"] = read_member(tarballs[name], package["license"])
        elif "license_from" in package:
            source = next(p for p in packages if p["name"] == package["license_from"])
            text = read_member(tarballs[source["name"]], source["license"]).decode("utf-8")
            note = (
                f"The npm package {name}@{version} ships no license file; its package.json declares\n"
                f'"license": "MIT". It is developed in the same repository as {source["name"]}\n'
                f"(https://github.com/graphql/graphiql), under the license below, copied from\n"
                f"{source['name']}@{source['version']}.\n\n"
            )
            files[f"{base}/LICENSE"] = (note + text).encode("utf-8")
        else:
            raise SystemExit(f"{name}: the manifest names no license (license or license_from)")
    return files, updated


def current_files() -> dict[str, bytes]:
    """The vendored files now: everything in the subdirectories (this script owns them)."""
    return {
        str(path.relative_to(ASSETS)): path.read_bytes()
        for path in sorted(ASSETS.glob("*/**/*"))
        if path.is_file()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare with the registry, change nothing")
    args = parser.parse_args()
    if shutil.which("npm") is None:
        raise SystemExit("npm is needed (it fetches the packages from the npm registry)")
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="graphiql-assets-") as tmp:
        files, updated = collect(manifest, Path(tmp))
    manifest_text = json.dumps(updated, indent=2) + "\n"

    if args.check:
        problems = []
        if current_files() != files:
            problems.append("the vendored files differ from the npm packages")
        if MANIFEST.read_text(encoding="utf-8") != manifest_text:
            problems.append("the manifest's digests are not up to date")
        for problem in problems:
            print(problem, file=sys.stderr)
        if not problems:
            print(f"up to date: {len(files)} files from {len(updated['packages'])} packages")
        return 1 if problems else 0

    for child in ASSETS.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
    for rel, data in files.items():
        target = ASSETS / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    MANIFEST.write_text(manifest_text, encoding="utf-8")
    total = sum(len(data) for data in files.values())
    for package in updated["packages"]:
        print(f"{package['name']}@{package['version']}: {', '.join(package['files']) or '(license only)'}")
    print(f"{len(files)} files, {total / 1024:.0f} KiB, in {ASSETS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
