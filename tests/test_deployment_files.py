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
