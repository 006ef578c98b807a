"""The HS256 secret that signs and checks bearer tokens (SPEC §5).

`LICENSING_JWT_SECRET` when it is set; it must be at least 32 bytes and not a value anyone can
read (one written in this repository, its compose file or an earlier release). When it is not
set, the first process that needs it generates 256 random bits and stores them in
`service_secrets` (migration 0003), so every replica and `licensing token` share one secret.
There is no built-in default: a deployment that forgot the setting gets a secret nobody knows.
"""

from __future__ import annotations

import logging
import secrets

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from db.config import Settings
from db.models import ServiceSecret

log = logging.getLogger(__name__)

S = ServiceSecret.__table__
JWT_SECRET = "jwt_secret"  # its row in service_secrets
MIN_BYTES = 32  # 256 bits, the size of the HS256 key
HOW_TO_MAKE = (
    "make one with `openssl rand -hex 32` or `python -c \"import secrets; print(secrets.token_hex(32))\"`"
)

# Secrets that were published with this project: the development default of the releases before
# migration 0003 (written in db/config.py) and docker-compose.yml's old `change-me`. Anyone can
# sign tokens with them, so they are refused even where they are long enough.
KNOWN_SECRETS = frozenset({
    "licensing-development-secret-do-not-use-in-production",
    "change-me",
})


class JwtSecretError(ValueError):
    """LICENSING_JWT_SECRET may not be used (the message says why and what to do)."""


def configured_jwt_secret(settings: Settings) -> str | None:
    """`LICENSING_JWT_SECRET`, or None when it is not set; raises JwtSecretError when it may not be used."""
    secret = settings.jwt_secret
    if secret is None:
        return None
    if secret in KNOWN_SECRETS:
        raise JwtSecretError(
            "LICENSING_JWT_SECRET is a value published with this project, so anyone could sign tokens with it. "
            f"Set a secret of your own ({HOW_TO_MAKE}), or unset it to let the service generate one and keep it "
            "in the database."
        )
    size = len(secret.encode())
    if size < MIN_BYTES:
        raise JwtSecretError(
            f"LICENSING_JWT_SECRET is {size} bytes long; it must be at least {MIN_BYTES} bytes (256 bits): "
            f"{HOW_TO_MAKE}. Or unset it to let the service generate one and keep it in the database."
        )
    return secret


async def jwt_secret(conn: AsyncConnection, settings: Settings) -> str:
    """The secret tokens are signed and checked with: the setting, else the one stored in the database.

    Without the setting and without a stored secret, a new one is generated and stored. Call it
    in a READ COMMITTED write transaction (`Database.write`) and commit: when two processes
    start at once, the second INSERT waits for the first, does nothing, and the SELECT after it
    reads the winner's secret, so both end with the same one.
    """
    configured = configured_jwt_secret(settings)
    if configured is not None:
        return configured
    stored = await _stored(conn)
    if stored is not None:
        log.info("LICENSING_JWT_SECRET is not set: tokens are signed with the secret stored in the database")
        return stored
    candidate = secrets.token_hex(MIN_BYTES)
    await conn.execute(insert(S).values(name=JWT_SECRET, value=candidate).on_conflict_do_nothing(index_elements=[S.c.name]))
    value = await _stored(conn)
    assert value is not None  # ours, or the one another process stored a moment before
    if value == candidate:
        log.warning(
            "LICENSING_JWT_SECRET is not set: generated a random token secret (256 bits) and stored it in the "
            "database (table service_secrets); every replica and `licensing token` use it. "
            "Set LICENSING_JWT_SECRET to use a secret of your own."
        )
    return value


async def _stored(conn: AsyncConnection) -> str | None:
    value = (await conn.execute(select(S.c.value).where(S.c.name == JWT_SECRET))).scalar_one_or_none()
    return str(value) if value is not None else None
