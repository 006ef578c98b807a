"""The files that ship the service (docker-compose.yml, Dockerfile): no secret anyone could read.

Docker does not run in the test environment; these tests read the files as compose and the
image build would.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|_KEY$", re.IGNORECASE)
PUBLISHED = ("change-me", "licensing-development-secret-do-not-use-in-production")


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def environment(service: str) -> dict[str, str]:
    env = compose()["services"][service].get("environment", {})
    if isinstance(env, list):  # the `- NAME=value` form
        env = dict(item.partition("=")[::2] for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def required(value: str, name: str) -> bool:
    """`value` is exactly `${name:?message}`: compose refuses to start without the variable."""
    m = INTERPOLATION.fullmatch(value)
    return bool(m and m["name"] == name and m["op"] == ":?" and m["arg"].strip())


def test_the_database_password_is_a_required_variable_in_both_services() -> None:
    assert required(environment("db")["POSTGRES_PASSWORD"], "POSTGRES_PASSWORD")
    url = environment("app")["DATABASE_URL"]
    m = re.fullmatch(r"postgresql://(?P<user>[^:@/]+):(?P<password>.+)@db:5432/(?P<db>\w+)", url)
    assert m, url
    assert required(m["password"], "POSTGRES_PASSWORD")
    assert (m["user"], m["db"]) == (environment("db")["POSTGRES_USER"], environment("db")["POSTGRES_DB"])


def test_the_token_secret_is_required_or_left_empty_for_the_app_to_generate() -> None:
    value = environment("app").get("LICENSING_JWT_SECRET", "")
    m = INTERPOLATION.fullmatch(value)
    if value:
        assert m and m["name"] == "LICENSING_JWT_SECRET", value
        assert m["op"] == ":?" or not m["arg"], f"a default anyone can read: {value}"


def test_no_secret_setting_has_a_literal_value_or_a_default() -> None:
    for name, service in compose()["services"].items():
        for key, value in environment(name).items():
            for m in INTERPOLATION.finditer(value):
                if SECRET_NAME.search(m["name"]) and m["op"] in ("-", ":-"):
                    assert not m["arg"], f"{name}.{key}: ${{{m['name']}}} defaults to {m['arg']!r}"
            if SECRET_NAME.search(key):
                assert INTERPOLATION.fullmatch(value) or not value, f"{name}.{key} is written in the file: {value!r}"
        assert "build" in service or "image" in service


def test_no_published_secret_is_left_in_the_file() -> None:
    text = COMPOSE.read_text()
    for published in PUBLISHED:
        assert published not in text
    assert not re.search(r"^\s*POSTGRES_PASSWORD:\s*[^$\s]", text, re.MULTILINE), "a literal database password"
    assert not re.search(r"postgresql://[^:/@]+:[^$@]+@", text), "a literal password in a URL"


def test_the_env_file_of_the_readme_stays_out_of_git_and_the_image() -> None:
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


# ------------------------------------------------------------------------------ Dockerfile


def installed_packages() -> set[str]:
    """Top-level packages `pip install .` installs: [tool.setuptools.packages.find] include."""
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    include = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.split(".")[0].rstrip("*") for pattern in include}


def dockerfile_copies() -> set[tuple[str, str]]:
    """(source, destination) of the build context's `COPY src ./dst` lines (not `COPY --from=…`)."""
    copies = set()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        m = re.fullmatch(r"\s*COPY\s+(?!--)(\S+)\s+\./(\S*?)/?\s*", line)
        if m:
            copies.add((m[1].rstrip("/"), m[2]))
    return copies


def dockerignored(name: str) -> bool:
    """Whether .dockerignore keeps the top-level `name` out of the build context (last match wins)."""
    from fnmatch import fnmatch

    ignored = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        if fnmatch(name, pattern) or fnmatch(name, pattern.removeprefix("**/")):
            ignored = not negated
    return ignored


def test_the_image_copies_every_package_that_pip_installs() -> None:
    packages = installed_packages()
    assert {"engine", "db", "gql"} <= packages
    copies = dockerfile_copies()
    for package in sorted(packages):
        assert (ROOT / package / "__init__.py").is_file(), f"{package} is in pyproject.toml but not a package"
        assert (package, package) in copies, (
            f"the Dockerfile does not `COPY {package} ./{package}`: the image would be built without it"
        )
        assert not dockerignored(package), f".dockerignore leaves {package}/ out of the build context"


def test_the_checks_of_the_image_notice_what_is_missing() -> None:
    # the helpers above, on what they must catch
    assert ("gql", "gql") in dockerfile_copies()
    assert not any(src == "/opt/venv" for src, _ in dockerfile_copies())  # COPY --from=build is not the context
    assert dockerignored("tests") and dockerignored(".venv") and not dockerignored("db")
