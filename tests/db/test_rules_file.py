"""LICENSING_SERVICE_PLAN_RULES: a deployment's rules file replaces the shipped rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.catalog_files import RulesFileError, parse_rules_file
from db.config import Settings
from db.repo.catalog import load_catalog, replace_rules
from db.session import Database
from gql.app import create_app


async def test_a_rules_file_replaces_the_shipped_rules(database_url: str, tmp_path: Path) -> None:
    rules = tmp_path / "rules.csv"
    rules.write_text(
        "rule,service_plan,other_service_plans,note\n"
        "mutually_exclusive,EXCHANGE_S_STANDARD,EXCHANGE_S_ENTERPRISE,only one Exchange plan\n"
        "prohibited_location,SPE_E3,CU KP,not sold there\n"
    )
    db = Database(database_url)
    try:
        async with db.engine.connect() as conn:
            trans = await conn.begin()
            shipped = await load_catalog(conn)
            assert [r.subject for r in shipped.rules] == ["YAMMER_ENTERPRISE", "WORKPLACE_ANALYTICS", "MCOMEETADV"]
            assert await replace_rules(conn, rules) == 2
            replaced = await load_catalog(conn)
            assert [(r.rule, r.subject, r.others) for r in replaced.rules] == [
                ("mutually_exclusive", "EXCHANGE_S_STANDARD", ("EXCHANGE_S_ENTERPRISE",)),
                ("prohibited_location", "SPE_E3", ("CU", "KP")),
            ]
            await trans.rollback()  # the rules are global: leave the shipped ones for other tests
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope,a,b\n", "line 1"),
        ("rule,service_plan,other_service_plans,note\nexcludes,A,B,x\n", "line 2: unknown rule 'excludes'"),
        ("rule,service_plan,other_service_plans,note\nrequires_any,A,,x\n", "line 2"),
        ("rule,service_plan,other_service_plans,note\nrequires_any,A\n", "line 2"),
    ],
)
def test_a_bad_rules_file_names_the_line(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.csv"
    path.write_text(text)
    with pytest.raises(RulesFileError, match=message):
        parse_rules_file(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # refused by the strict parser only (the lax one production used before accepted them)
        ("rule,service_plan,other_service_plans,note\nmutually_exclusive,A,A,x\n", "line 2: A cannot name itself"),
        ("rule,service_plan,other_service_plans,note\nprohibited_location,SPE_E3,JJ,x\n", "line 2"),
        ("rule,service_plan,other_service_plans,note\nrequires_any,A,B,x,extra\n", "line 2: expected 3 or 4 columns"),
    ],
)
def test_production_refuses_what_only_the_strict_parser_caught(text: str, message: str, tmp_path: Path) -> None:
    path = tmp_path / "rules.csv"
    path.write_text(text)
    with pytest.raises(RulesFileError, match=message):
        parse_rules_file(path)


async def test_the_app_does_not_start_with_a_rules_file_the_strict_parser_refuses(database_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "rules.csv"
    bad.write_text("rule,service_plan,other_service_plans,note\nmutually_exclusive,A,A,x\n")
    settings = Settings(
        DATABASE_URL=None, LICENSING_JWT_SECRET="test-secret-for-the-licensing-service-0123456789",
        LICENSING_SERVICE_PLAN_RULES=bad,
    )
    app = create_app(settings, database_url, run_lifecycle_job=False)
    with pytest.raises(RulesFileError, match="line 2: A cannot name itself"):
        async with app.router.lifespan_context(app):
            pass
    db = Database(database_url)
    try:
        async with db.engine.connect() as conn:  # the shipped rules are still in place
            assert [r.subject for r in (await load_catalog(conn)).rules][0] == "YAMMER_ENTERPRISE"
    finally:
        await db.dispose()
