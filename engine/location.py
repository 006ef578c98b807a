"""R8: every path needs a usage location where its product may be used."""

from __future__ import annotations

from engine.errors import ErrorCode, LocationProblem


def usage_location_for(*, direct: bool, user_location: str | None, tenant_default: str | None) -> str | None:
    """The location a path is judged in: the user's; for group paths, else the tenant default."""
    if user_location:
        return user_location.upper()
    if not direct and tenant_default:
        return tenant_default.upper()
    return None


def location_error(
    location: str | None, prohibited_in: frozenset[str]
) -> tuple[ErrorCode, LocationProblem] | None:
    """R8 for one path judged in `location` (see `usage_location_for`): None when it passes.

    USAGE_LOCATION_REQUIRED when there is no location; PROHIBITED_IN_USAGE_LOCATION_VIOLATION
    when the product may not be used there.
    """
    if location is None:
        return ErrorCode.USAGE_LOCATION_REQUIRED, LocationProblem(None)
    if location in prohibited_in:
        return ErrorCode.PROHIBITED_IN_USAGE_LOCATION_VIOLATION, LocationProblem(location)
    return None
