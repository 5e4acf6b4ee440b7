"""What an ``UpdateWebACL`` must carry, from botocore's WAFv2 service model, and what a
``GetWebACL`` answer holds that we cannot carry.

``UpdateWebACL`` replaces the whole web ACL: every setting left out of the request is
deleted (log data protection, DDoS protection, application settings, …). So the carried
settings are not a list kept in this code: they are the ``UpdateWebACL`` input members
that the ``WebACL`` shape also has, read from the service model botocore ships, so a
setting AWS adds reaches us with the next botocore and is carried without a change here.

Two things make a write unsafe and are refused, never dropped:

* a member of the answer that is neither carried nor a read-only attribute we
  understand (:data:`READ_ONLY`): a setting we do not know how to write back;
* a field in the raw JSON answer that botocore's parser dropped because its model does
  not know it (AWS is newer than the installed botocore): :func:`watch_unmodelled`
  compares the raw body with the parsed answer and records every such path under
  :data:`UNMODELLED` in the parsed response.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from typing import Any

import botocore.session
from botocore.model import StructureShape

from rules_admin.webacl import WebAclError

SERVICE = "wafv2"
# ``WebACL`` members that GetWebACL returns and UpdateWebACL has no place for: state
# AWS computes or another service (Firewall Manager) owns. Understood, not carried.
READ_ONLY = frozenset(
    {
        "ARN",
        "Capacity",
        "LabelNamespace",
        "ManagedByFirewallManager",
        "RetrofittedByFirewallManager",
        "PreProcessFirewallManagerRuleGroups",
        "PostProcessFirewallManagerRuleGroups",
    }
)
IDENTITY = frozenset({"Name", "Id", "Scope", "LockToken"})  # set by update_spec itself
UNMODELLED = "WafsiemUnmodelledFields"  # key in a parsed GetWebACL response
# Emulators add keys AWS does not send; only these are known to be harmless: moto
# repeats the lock token inside the WebACL (UpdateWebACL carries it at the top level).
HARMLESS_UNMODELLED = frozenset({"WebACL.LockToken"})


class UnsupportedWebAcl(WebAclError):
    """The web ACL holds something an UpdateWebACL from us would drop or break."""


@lru_cache(maxsize=1)
def _update_and_webacl_members() -> tuple[tuple[str, ...], frozenset[str]]:
    """UpdateWebACL's input members (model order) and GetWebACL's ``WebACL`` members."""
    model = botocore.session.get_session().get_service_model(SERVICE)
    update = tuple(_members(model.operation_model("UpdateWebACL").input_shape))
    return update, frozenset(_members(model.shape_for("WebACL")))


def carried_settings() -> tuple[str, ...]:
    """The UpdateWebACL input members a GetWebACL ``WebACL`` has, in model order."""
    update, webacl = _update_and_webacl_members()
    return tuple(name for name in update if name in webacl and name not in IDENTITY)


def unsourced_update_members() -> tuple[str, ...]:
    """UpdateWebACL input members GetWebACL does not return: their current value is
    unknown, so an update could reset them. Empty for today's model; if a newer one
    adds such a member, every write is refused until wafsiem knows how to carry it."""
    update, webacl = _update_and_webacl_members()
    return tuple(name for name in update if name not in webacl and name not in IDENTITY)


def _members(shape: Any) -> dict[str, Any]:
    if not isinstance(shape, StructureShape):
        raise TypeError(f"botocore's {SERVICE} model changed: {shape!r} is not a structure")
    return dict(shape.members)


def uncarried_fields(acl: dict[str, Any]) -> list[str]:
    """Members of a parsed ``WebACL`` that are neither carried nor understood read-only."""
    known = set(carried_settings()) | READ_ONLY | IDENTITY
    return sorted(k for k, v in acl.items() if v is not None and k not in known)


def unmodelled_paths(raw: Any, parsed: Any, path: str = "") -> list[str]:
    """Paths of keys in ``raw`` (the JSON answer) missing from ``parsed`` (botocore's
    result): fields the installed service model does not know. Nulls do not count."""
    found: list[str] = []
    if isinstance(raw, dict) and isinstance(parsed, dict):
        for key, value in raw.items():
            where = f"{path}.{key}" if path else key
            if value is None:
                continue
            if key not in parsed:
                found.append(where)
            else:
                found.extend(unmodelled_paths(value, parsed[key], where))
    elif isinstance(raw, list) and isinstance(parsed, list):
        for index, (a, b) in enumerate(zip(raw, parsed, strict=False)):
            found.extend(unmodelled_paths(a, b, f"{path}[{index}]"))
    return found


def _note_unmodelled(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
    """botocore ``after-call`` handler: record what the parser dropped from the body."""
    if getattr(http_response, "raw", None) is None:  # a Stubber answer: model-valid
        return
    try:
        raw = json.loads(http_response.content or b"{}")
    except ValueError:
        return
    if isinstance(raw, dict) and "WebACL" in parsed:
        paths = [p for p in unmodelled_paths(raw, parsed) if p not in HARMLESS_UNMODELLED]
        parsed[UNMODELLED] = paths


def watch_unmodelled(client: Any) -> None:
    """Make ``client``'s GetWebACL answers say which raw fields botocore dropped
    (registered once per client: the unique id makes a second call a no-op)."""
    events = getattr(getattr(client, "meta", None), "events", None)
    if events is not None:
        events.register(
            "after-call.wafv2.GetWebACL", _note_unmodelled, unique_id="wafsiem-unmodelled"
        )


def check_carriable(response: dict[str, Any]) -> None:
    """Refuse (:class:`UnsupportedWebAcl`) a web ACL an UpdateWebACL would change in
    more than the rules we edit: managed by Firewall Manager, or holding a setting we
    cannot write back."""
    acl = response["WebACL"]
    name = acl.get("Name")
    if acl.get("ManagedByFirewallManager"):
        raise UnsupportedWebAcl(
            f"web ACL {name!r} is managed by AWS Firewall Manager: a change made here "
            "would be overwritten by its policy. Change the rule in the Firewall Manager "
            "security policy (in the Firewall Manager administrator account) instead"
        )
    unsourced = unsourced_update_members()
    if unsourced:
        raise UnsupportedWebAcl(
            f"UpdateWebACL in this botocore takes {', '.join(unsourced)}, which GetWebACL "
            "does not return: an update could reset them. Nothing was written; upgrade "
            "wafsiem"
        )
    dropped = response.get(UNMODELLED) or []
    if dropped:
        raise UnsupportedWebAcl(
            f"GetWebACL for {name!r} returned fields this botocore's WAFv2 model does "
            f"not know: {', '.join(dropped)}. UpdateWebACL would drop them, so nothing "
            "was written; upgrade botocore (boto3) and retry"
        )
    unknown = uncarried_fields(acl)
    if unknown:
        raise UnsupportedWebAcl(
            f"web ACL {name!r} has settings wafsiem does not know how to carry through "
            f"UpdateWebACL: {', '.join(unknown)}. Nothing was written; change the rule "
            "by hand or upgrade wafsiem"
        )


def _clean(value: Any) -> Any:
    """Drop None values (an emulator returns them; UpdateWebACL refuses them)."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def update_spec(
    response: dict[str, Any], scope: str, rules: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The complete UpdateWebACL arguments from a GetWebACL ``response``.

    Every carried setting (:func:`carried_settings`) present in the response is copied;
    ``rules`` replaces the rules when given. Empty optional values (``Description: ""``,
    which AWS refuses) are left out. Raises :class:`UnsupportedWebAcl` (see
    :func:`check_carriable`) rather than leave out anything else.
    """
    check_carriable(response)
    acl = response["WebACL"]
    spec: dict[str, Any] = {
        "Name": acl["Name"],
        "Scope": scope,
        "Id": acl["Id"],
        "LockToken": response["LockToken"],
    }
    source = dict(acl)
    if rules is not None:
        source["Rules"] = rules
    for key in carried_settings():
        value = source.get(key)
        if value is None or (key in ("Description", "CustomResponseBodies") and not value):
            continue
        spec[key] = _clean(copy.deepcopy(value))
    return spec
