"""/scim/v2/Groups (R29, D34): displayName, externalId, members (users and groups, `value` = id).

Groups created over SCIM are security-enabled assigned groups. Member changes are the
addGroupMembers / removeGroupMembers use cases (licenses follow in their transaction); a
dynamic group refuses them (400 mutability). PATCH operations are read here rather than
applied to an in-memory group by scim2-models: a group may have 100,000 members, and only
the ids a PATCH names are sent to the use cases. A GET of a group with more than 10,000
members is 400 tooMany unless members are excluded.
"""

from __future__ import annotations

import uuid
from typing import Any

from scim2_models import Context, Group, GroupMember, Meta
from starlette.responses import Response

from db.repo import scim as scim_reads
from db.repo.scim import FilterError, ScimGroup, ScimMember
from gql.scim.filters import parse_filter
from gql.scim.protocol import ScimError, json_body, require_patch_schema, scim_response
from gql.scim.resources import (
    Call,
    excludes,
    list_response,
    not_found,
    paging,
    resource_id,
    response_parameters,
)
from services import groups
from services.groups import KEEP, ChangeGroup, CreateGroup, DeleteGroup, UpdateGroup
from services.ids import to_global_id

MAX_MEMBERS_SHOWN = 10_000
GROUP_URN = "urn:ietf:params:scim:schemas:core:2.0:group:"  # a path may be qualified by it (RFC 7644 §3.10)


def _member(call: Call, m: ScimMember) -> GroupMember:
    kind = "Users" if m.type == "User" else "Groups"
    # no `display`: RFC 7643's Group schema gives members value, $ref and type, and a client
    # that PATCHes members reads back exactly what it sent
    return GroupMember(value=str(m.id), type=m.type, ref=call.location(kind, m.id))


def _dump(call: Call, group: ScimGroup, members: list[ScimMember] | None) -> dict[str, Any]:
    model = Group(
        id=str(group.id), display_name=group.display_name, external_id=group.external_id,
        members=[_member(call, m) for m in members] if members else None,
        meta=Meta(resource_type="Group", created=group.created_at, last_modified=group.updated_at, location=call.location("Groups", group.id)),
    )
    return model.model_dump(  # type: ignore[no-any-return]
        scim_ctx=Context.RESOURCE_QUERY_RESPONSE, response_parameters=response_parameters(call.params)
    )


async def _dump_all(call: Call, conn: Any, found: list[ScimGroup], *, written: bool = False) -> list[dict[str, Any]]:
    """The groups as SCIM; past MAX_MEMBERS_SHOWN members 400 tooMany, except in the answer to
    a write that succeeded, which then leaves the members out."""
    large = next((g for g in found if g.member_count > MAX_MEMBERS_SHOWN), None)
    if excludes(response_parameters(call.params), "members") or (large is not None and written):
        return [_dump(call, g, None) for g in found]
    if large is not None:
        raise ScimError(
            400, "tooMany",
            f"Group {large.display_name} has {large.member_count:,} members, more than {MAX_MEMBERS_SHOWN:,} in one response: "
            "ask with excludedAttributes=members and filter by members[value eq \"…\"] instead.",
        )
    members = await scim_reads.members_of(conn, call.tenant_id, [g.id for g in found])
    return [_dump(call, g, members[g.id]) for g in found]


async def list_groups(call: Call) -> Response:
    start, count = paging(call.params)
    node = parse_filter(call.params.get("filter"))
    try:
        async with call.runtime.db.read() as conn:
            total, page = await scim_reads.groups_page(conn, call.tenant_id, node, offset=start - 1, limit=count)
            resources = await _dump_all(call, conn, page)
    except FilterError as exc:
        raise ScimError(400, "invalidFilter", str(exc)) from exc
    return scim_response(list_response(total, start, resources))


async def _respond(call: Call, key: uuid.UUID, status: int = 200) -> Response:
    async with call.runtime.db.read() as conn:
        found = await scim_reads.group(conn, call.tenant_id, key)
        if found is None:
            raise not_found("group", key)
        body = (await _dump_all(call, conn, [found], written=status == 201 or call.request.method != "GET"))[0]
    headers = {"Location": call.location("Groups", key)} if status == 201 else None
    return scim_response(body, status, headers)


async def get_group(call: Call, raw_id: str) -> Response:
    return await _respond(call, resource_id(raw_id, "group"))


async def _existing(call: Call, raw_id: str) -> ScimGroup:
    key = resource_id(raw_id, "group")
    async with call.runtime.db.read() as conn:
        found = await scim_reads.group(conn, call.tenant_id, key)
    if found is None:
        raise not_found("group", key)
    return found


def _key(value: str) -> str:
    """A member value as compared within one PATCH (GUIDs ignore case)."""
    return value.lower()


def _member_values(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    values: list[str] = []
    for item in items:
        raw = item.get("value") if isinstance(item, dict) else None
        if not isinstance(raw, str) or not raw.strip():
            raise ScimError(400, "invalidValue", "Each member is an object with a `value`: the id of a user or group.")
        values.append(raw.strip())
    return values


async def _member_ids(call: Call, values: list[str], *, removing: bool = False) -> list[str]:
    """SCIM member values (GUIDs of users or groups) as the use cases' ids; unknown → 400
    invalidValue. `removing`: an id that names nobody (a user just deleted, say) is no member,
    and removing a non-member is a no-op (D17): skipped."""
    limit = call.runtime.settings.max_members_per_call
    if len(values) > limit:
        raise ScimError(400, "tooMany", f"{len(values):,} member values in one request; at most {limit:,}: split the change.")
    keys: list[uuid.UUID] = []
    for raw in values:
        try:
            keys.append(uuid.UUID(raw))
        except ValueError as exc:
            if removing:
                continue
            raise ScimError(400, "invalidValue", f"Member value {raw[:80]!r} is not the id of a user or group.") from exc
    async with call.runtime.db.read() as conn:
        users, found_groups = await scim_reads.member_kinds(conn, call.tenant_id, keys)
    unknown = [str(k) for k in keys if k not in users and k not in found_groups]
    if unknown and removing:
        keys = [k for k in keys if k in users or k in found_groups]
    elif unknown:
        raise ScimError(400, "invalidValue", f"No user or group of this organisation has the id {unknown[0]}.")
    seen: set[uuid.UUID] = set()
    ids: list[str] = []
    for k in keys:
        if k not in seen:
            seen.add(k)
            ids.append(to_global_id("User" if k in users else "Group", k))
    return ids


def _text(body: dict[str, Any], name: str) -> Any:
    value = next((v for k, v in body.items() if k.lower() == name.lower()), KEEP)
    if value is not KEEP and value is not None and not isinstance(value, str):
        raise ScimError(400, "invalidValue", f"{name} is a string.")
    return value


def _members_given(body: dict[str, Any]) -> Any:
    """The body's `members`, its name in any case (RFC 7643 §2.1); KEEP when absent."""
    return next((v for k, v in body.items() if k.lower() == "members"), KEEP)


async def create_group(call: Call) -> Response:
    body = await json_body(call.request)
    name = _text(body, "displayName")
    if name is KEEP or not name:
        raise ScimError(400, "invalidValue", "displayName is required.")
    external_id = _text(body, "externalId")
    members = _members_given(body)
    members = [] if members is KEEP else members or []
    ids = await _member_ids(call, _member_values(members)) if members else []
    group = await groups.create_group(call.runtime, call.actor, CreateGroup(
        display_name=name, security_enabled=True, member_ids=ids, external_id=None if external_id is KEEP else external_id,
    ))
    return await _respond(call, group.id, 201)


def _rename(group: ScimGroup, display_name: Any, external_id: Any) -> UpdateGroup | None:
    """The attribute part of a PUT or PATCH (None: nothing to change)."""
    if display_name is not KEEP and not display_name:
        raise ScimError(400, "invalidValue", "displayName cannot be removed.")
    if display_name == group.display_name:
        display_name = KEEP
    if external_id == group.external_id:
        external_id = KEEP
    if display_name is not KEEP or external_id is not KEEP:
        return UpdateGroup(to_global_id("Group", group.id), display_name=display_name, external_id=external_id)
    return None


async def replace_group(call: Call, raw_id: str) -> Response:
    group = await _existing(call, raw_id)
    body = await json_body(call.request)
    name = _text(body, "displayName")
    if name is KEEP:
        raise ScimError(400, "invalidValue", "displayName is required.")
    external_id = _text(body, "externalId")
    update = _rename(group, name, None if external_id is KEEP else external_id)
    members: list[str] | None = None
    given = _members_given(body)
    if given is not KEEP or not group.dynamic:
        members = await _member_ids(call, _member_values(given)) if given is not KEEP and given else []
    # R30: the attributes and the members in one transaction
    await groups.change_group(call.runtime, call.actor, ChangeGroup(to_global_id("Group", group.id), update, members))
    return await _respond(call, group.id)


def _operations(body: dict[str, Any]) -> list[dict[str, Any]]:
    require_patch_schema(body)
    ops = body.get("Operations", body.get("operations"))
    if not isinstance(ops, list) or not ops or not all(isinstance(o, dict) for o in ops):
        raise ScimError(400, "invalidSyntax", "A PatchOp has a non-empty `Operations` list.")
    return ops


def _member_filter_value(path: str) -> tuple[str, str | None] | None:
    """`members[value eq "id"]` → ("id", None), `members[value eq "id"].display` → ("id",
    "display"); None for any other path."""
    if not path.lower().startswith("members["):
        return None
    close = path.rfind("]")
    sub = path[close + 1:]
    if close < 0 or (sub and not sub.startswith(".")):
        return None
    node = parse_filter(path[len("members"):close].strip()[1:])
    if isinstance(node, scim_reads.Compare) and node.attr == "value" and node.op == "eq" and isinstance(node.value, str):
        return node.value, sub[1:].lower() or None
    raise ScimError(400, "invalidFilter", f"Only members[value eq \"…\"] selects members; got {path[:200]!r}.")


async def patch_group(call: Call, raw_id: str) -> Response:
    group = await _existing(call, raw_id)
    ops = _operations(await json_body(call.request))
    display_name: Any = KEEP
    external_id: Any = KEEP
    # the members as the operations leave them, in order (RFC 7644 §3.5.2): the last operation
    # on a member decides (removed and added again: stays as it was, D14 keeps its seat); a
    # replace resets the list, later operations edit the replacement
    add: dict[str, str] = {}  # normalised value -> value, in order
    remove: dict[str, str] = {}
    replace_members: list[str] | None = None

    def applying(values: list[str], *, added: bool) -> None:
        nonlocal replace_members
        if replace_members is not None:
            keys = {_key(v) for v in values}
            kept = [m for m in replace_members if _key(m) not in keys]
            replace_members = kept + values if added else kept
            return
        into, out_of = (add, remove) if added else (remove, add)
        for v in values:
            out_of.pop(_key(v), None)
            into[_key(v)] = v

    async def member_now(value: str) -> bool:
        """Whether `value` is a member as the operations so far leave the group."""
        if replace_members is not None:
            return any(_key(m) == _key(value) for m in replace_members)
        if _key(value) in add or _key(value) in remove:
            return _key(value) in add
        try:
            member_id = uuid.UUID(value)
        except ValueError:
            return False
        async with call.runtime.db.read() as conn:
            return await scim_reads.is_member(conn, call.tenant_id, group.id, member_id)

    def replacing(values: list[str]) -> None:
        nonlocal replace_members
        add.clear()
        remove.clear()
        replace_members = list(values)

    for op in ops:
        verb = str(op.get("op", "")).lower()
        path = op.get("path")
        value = op.get("value")
        if verb not in ("add", "replace", "remove"):
            raise ScimError(400, "invalidSyntax", f"Unknown PATCH op {op.get('op')!r}: use add, replace or remove.")
        if path is None:
            if verb == "remove" or not isinstance(value, dict):
                raise ScimError(400, "noTarget" if verb == "remove" else "invalidValue", "An op without a path carries an object of attributes.")
            for key, item in value.items():
                path_value = key.lower().removeprefix(GROUP_URN)
                if path_value == "displayname":
                    display_name = item
                elif path_value == "externalid":
                    external_id = item
                elif path_value in ("id", "schemas", "meta"):
                    continue  # Okta repeats the id; read-only attributes are not changed
                elif path_value == "members":
                    values = _member_values(item)
                    if verb == "add":
                        applying(values, added=True)
                    else:
                        replacing(values)
                else:
                    raise ScimError(400, "invalidPath", f"Groups have no attribute {key!r}.")
            continue
        path = str(path)
        if path.lower().startswith(GROUP_URN):
            path = path[len(GROUP_URN):]
        lowered = path.lower()
        selected = _member_filter_value(path)
        if lowered in ("id", "meta", "schemas") or lowered.startswith("meta."):
            raise ScimError(400, "mutability", f"{path!r} is read-only.")
        if lowered == "displayname":
            if verb == "remove":
                raise ScimError(400, "mutability", "displayName is required and cannot be removed.")
            display_name = value
        elif lowered == "externalid":
            external_id = None if verb == "remove" else value
        elif lowered == "members":
            if verb == "add":
                applying(_member_values(value), added=True)
            elif verb == "remove":
                if value is None:
                    replacing([])
                else:
                    applying(_member_values(value), added=False)  # Entra: {"op": "Remove", "path": "members", "value": [{"value": …}]}
            else:
                replacing(_member_values(value) if value else [])
        elif selected is not None:
            chosen, sub = selected
            if verb == "remove":
                if sub is not None:
                    raise ScimError(400, "mutability", f"A member's {sub} cannot be removed: remove the member, path members[value eq \"…\"].")
                applying([chosen], added=False)
                continue
            if not await member_now(chosen):  # RFC 7644 §3.5.2.3: a value filter that selects nothing
                raise ScimError(400, "noTarget", f"members[value eq \"{chosen[:80]}\"] selects no member of this group; "
                                "add members with path members.")
            if verb == "add" or sub not in (None, "value"):
                raise ScimError(400, "mutability" if sub in ("display", "type", "$ref") else "invalidPath",
                                f"A member is its value alone ({sub or 'add'} cannot change it): replace "
                                "members[value eq \"…\"] with another member, or add members with path members.")
            if sub == "value":  # `.value` is replaced by one member id (a string, or one member object)
                replaced_by = [value.strip()] if isinstance(value, str) and value.strip() else _member_values(value)
                if len(replaced_by) != 1:
                    raise ScimError(400, "invalidValue", "members[value eq \"…\"].value is replaced by one member id.")
            else:
                replaced_by = _member_values(value)
            applying([chosen], added=False)
            applying(replaced_by, added=True)
        else:
            raise ScimError(400, "invalidPath", f"Groups have no attribute {str(path)[:100]!r}.")
    if display_name is not KEEP and display_name is not None and not isinstance(display_name, str):
        raise ScimError(400, "invalidValue", "displayName is a string.")
    if external_id is not KEEP and external_id is not None and not isinstance(external_id, str):
        raise ScimError(400, "invalidValue", "externalId is a string.")
    if len(add) + len(remove) + len(replace_members or []) > call.runtime.settings.max_members_per_call:
        limit = call.runtime.settings.max_members_per_call
        raise ScimError(400, "tooMany", f"More than {limit:,} member values in one PATCH: split the change.")
    # R30: every operation of the PATCH in one transaction (ids that are not members are no-ops)
    await groups.change_group(call.runtime, call.actor, ChangeGroup(
        to_global_id("Group", group.id), _rename(group, display_name, external_id),
        members=(await _member_ids(call, replace_members) if replace_members else []) if replace_members is not None else None,
        remove=await _member_ids(call, list(remove.values()), removing=True) if remove else [],
        add=await _member_ids(call, list(add.values())) if add else [],
    ))
    if call.params.get("attributes") or call.params.get("excludedAttributes"):
        return await _respond(call, group.id)
    return Response(status_code=204)


async def delete_group(call: Call, raw_id: str) -> Response:
    group = await _existing(call, raw_id)
    await groups.delete_group(call.runtime, call.actor, DeleteGroup(to_global_id("Group", group.id)))
    return Response(status_code=204)
