"""The use cases: every entry point (GraphQL, the CLI, SCIM, jobs) calls these and nothing below.

A use case takes an `Actor` (who) and a `Runtime` (the database, catalog, rules, clock and
settings), opens one transaction (`services.change.begin`), loads facts in bulk (db/), lets the
engine decide — or a set-based SQL step that mirrors it — writes in bulk, and returns plain
results. Business refusals are raised as `Refused` carrying `Problem`s. Nothing here knows of
GraphQL, Strawberry or Starlette.
"""
