"""Pure logic on GetWebACL output: find a rule, switch it to COUNT, revert it exactly.

Three shapes of target (no I/O here; the service does the AWS calls):

* ``custom``: a rule with its own ``Action`` (``{"Block": {...}}`` → ``{"Count": {}}``);
* ``rule_group``: a rule group reference as a whole (``OverrideAction`` → ``{"Count": {}}``);
* ``group_rule``: one rule inside a managed or customer rule group — a
  ``RuleActionOverrides`` entry ``{"Name": sub_rule, "ActionToUse": {"Count": {}}}``.
  The older ``ExcludedRules`` list is understood: a sub-rule listed there already counts.

The part of a rule an override changes is its *slot*: the ``Action`` dict, the
``OverrideAction`` dict, or the sub-rule's ``RuleActionOverrides`` entry (``None`` when
absent). Revert puts the recorded previous slot back (removing the entry, and the list
when it becomes empty, if there was none) only while the slot still holds what the
override wrote, so a later edit by someone else is never silently undone.
"""

from __future__ import annotations

import copy
import difflib
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

Shape = Literal["custom", "rule_group", "group_rule"]
GroupKind = Literal["managed", "customer"]

COUNT_ACTION: dict[str, Any] = {"Count": {}}
GROUP_STATEMENTS = {
    "ManagedRuleGroupStatement": "managed",
    "RuleGroupReferenceStatement": "customer",
}
_ARN = re.compile(
    r"^arn:(?P<partition>[\w-]+):wafv2:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<scope>regional|global)/webacl/(?P<name>[^/]+)/(?P<id>[^/]+)$"
)


class WebAclError(ValueError):
    """A target that does not exist or cannot be changed the way asked."""


class SlotChanged(WebAclError):
    """The slot no longer holds what the override wrote: reverting would undo a later edit."""


@dataclass(frozen=True)
class WebAclRef:
    arn: str
    partition: str
    region: str  # the region API calls go to: us-east-1 for CLOUDFRONT
    account: str
    scope: Literal["REGIONAL", "CLOUDFRONT"]
    name: str
    id: str


def parse_webacl_arn(arn: str) -> WebAclRef:
    """Name, id, scope and region from a web ACL ARN (``global/`` means CLOUDFRONT)."""
    match = _ARN.match(arn.strip())
    if not match:
        raise WebAclError(
            f"not a WAFv2 web ACL ARN: {arn!r} "
            "(expected arn:aws:wafv2:REGION:ACCOUNT:regional|global/webacl/NAME/ID)"
        )
    cloudfront = match["scope"] == "global"
    return WebAclRef(
        arn=arn.strip(),
        partition=match["partition"],
        region="us-east-1" if cloudfront else match["region"],
        account=match["account"],
        scope="CLOUDFRONT" if cloudfront else "REGIONAL",
        name=match["name"],
        id=match["id"],
    )


def action_name(action: dict[str, Any] | None) -> str | None:
    """``{"Block": {...}}`` → ``"BLOCK"``; ``{"None": {}}`` → ``"NONE"``; None stays None."""
    if not action:
        return None
    return next(iter(action)).upper()


@dataclass(frozen=True)
class Group:
    kind: GroupKind
    vendor: str | None  # managed only
    name: str | None  # managed only
    version: str | None
    arn: str | None  # customer only
    statement: dict[str, Any]


@dataclass(frozen=True)
class Located:
    shape: Shape
    index: int
    rule: dict[str, Any]
    sub_rule: str | None
    group: Group | None
    slot: Any  # the current value of the slot (a dict, or None)
    effective: str | None  # BLOCK, COUNT, ... ; None = the group's own default action
    note: str | None = None


def rule_group(rule: dict[str, Any]) -> Group | None:
    statement = rule.get("Statement") or {}
    for key, kind in GROUP_STATEMENTS.items():
        if key in statement:
            inner = statement[key]
            return Group(
                kind="managed" if kind == "managed" else "customer",
                vendor=inner.get("VendorName"),
                name=inner.get("Name"),
                version=inner.get("Version"),
                arn=inner.get("ARN"),
                statement=inner,
            )
    return None


def _sub_entry(group: Group, sub_rule: str) -> dict[str, Any] | None:
    for entry in group.statement.get("RuleActionOverrides") or []:
        if entry.get("Name") == sub_rule:
            return dict(entry)
    return None


def _excluded(group: Group, sub_rule: str) -> bool:
    return any(e.get("Name") == sub_rule for e in group.statement.get("ExcludedRules") or [])


def firewall_manager_group(acl: dict[str, Any], rule: str) -> str | None:
    """``pre-process`` / ``post-process`` when ``rule`` names a Firewall Manager rule
    group of the web ACL (those are not in ``Rules``; only Firewall Manager changes them)."""
    for stage in ("Pre", "Post"):
        for group in acl.get(f"{stage}ProcessFirewallManagerRuleGroups") or []:
            if group.get("Name") == rule:
                return f"{stage.lower()}-process"
    return None


def find_rule(acl: dict[str, Any], rule: str) -> tuple[int, dict[str, Any]]:
    for index, candidate in enumerate(acl.get("Rules") or []):
        if candidate.get("Name") == rule:
            return index, candidate
    stage = firewall_manager_group(acl, rule)
    if stage:
        raise WebAclError(
            f"rule {rule!r} is in the {stage} rule group AWS Firewall Manager adds to web "
            f"ACL {acl.get('Name')!r}: only its Firewall Manager security policy can change "
            "it. Change the rule there (in the Firewall Manager administrator account)"
        )
    names = ", ".join(r.get("Name", "?") for r in acl.get("Rules") or []) or "none"
    raise WebAclError(f"web ACL {acl.get('Name')!r} has no rule {rule!r} (rules: {names})")


def locate(acl: dict[str, Any], rule: str, sub_rule: str | None = None) -> Located:
    """Where ``rule`` (and ``sub_rule`` inside its group) lives in ``acl`` (the WebACL)."""
    index, found = find_rule(acl, rule)
    group = rule_group(found)
    if sub_rule is None:
        if group is None:
            return Located(
                "custom",
                index,
                found,
                None,
                None,
                found.get("Action"),
                action_name(found.get("Action")),
            )
        override = found.get("OverrideAction")
        return Located(
            "rule_group",
            index,
            found,
            None,
            group,
            override,
            "COUNT" if action_name(override) == "COUNT" else None,
        )
    if group is None:
        raise WebAclError(f"rule {rule!r} is not a rule group reference: it has no sub-rules")
    entry = _sub_entry(group, sub_rule)
    note = None
    if entry is not None:
        effective = action_name(entry.get("ActionToUse"))
    elif _excluded(group, sub_rule):
        effective, note = "COUNT", "listed in ExcludedRules"
    else:
        effective = None
    if effective != "COUNT" and action_name(found.get("OverrideAction")) == "COUNT":
        effective, note = "COUNT", "the whole rule group is in COUNT (OverrideAction)"
    return Located("group_rule", index, found, sub_rule, group, entry, effective, note)


def slot_of(rule: dict[str, Any], shape: Shape, sub_rule: str | None) -> Any:
    """The slot's value in a rule dict (as stored in audit ``before`` / ``after``)."""
    if shape == "custom":
        return rule.get("Action")
    if shape == "rule_group":
        return rule.get("OverrideAction")
    group = rule_group(rule)
    if group is None or sub_rule is None:
        return None
    return _sub_entry(group, sub_rule)


def _set_slot(rule: dict[str, Any], shape: Shape, sub_rule: str | None, value: Any) -> None:
    """Write ``value`` into the slot of ``rule`` (in place); None removes an entry."""
    if shape == "custom":
        rule["Action"] = value
        return
    if shape == "rule_group":
        rule["OverrideAction"] = value
        return
    statement = rule["Statement"]
    key = next(k for k in GROUP_STATEMENTS if k in statement)
    inner = statement[key]
    entries = list(inner.get("RuleActionOverrides") or [])
    position = next((i for i, e in enumerate(entries) if e.get("Name") == sub_rule), None)
    if value is None:
        if position is not None:
            entries.pop(position)
    elif position is None:
        entries.append(value)
    else:
        entries[position] = value
    if entries:
        inner["RuleActionOverrides"] = entries
    else:
        inner.pop("RuleActionOverrides", None)


@dataclass(frozen=True)
class Change:
    """The rules list after an edit, and the edited rule before and after."""

    located: Located
    rules: list[dict[str, Any]]
    before: dict[str, Any]
    after: dict[str, Any]
    changed: bool
    reason: str | None = None  # why nothing changes (already COUNT)


def apply_override(acl: dict[str, Any], rule: str, sub_rule: str | None = None) -> Change:
    """The rules of ``acl`` with ``rule`` (or its ``sub_rule``) switched to COUNT."""
    located = locate(acl, rule, sub_rule)
    before = copy.deepcopy(located.rule)
    rules = copy.deepcopy(list(acl.get("Rules") or []))
    if located.effective == "COUNT":
        reason = "already COUNT" + (f" ({located.note})" if located.note else "")
        return Change(located, rules, before, before, False, reason)
    if located.shape == "custom" and located.effective == "ALLOW":
        raise WebAclError(
            f"rule {rule!r} allows requests: COUNT would not stop blocks, and would let "
            "later rules block what it allows"
        )
    if located.shape == "group_rule" and located.effective == "ALLOW":
        raise WebAclError(f"{rule}:{sub_rule} is overridden to ALLOW; refusing to change it")
    value: Any = copy.deepcopy(COUNT_ACTION)
    if located.shape == "group_rule":
        value = {"Name": sub_rule, "ActionToUse": copy.deepcopy(COUNT_ACTION)}
    _set_slot(rules[located.index], located.shape, sub_rule, value)
    return Change(located, rules, before, copy.deepcopy(rules[located.index]), True)


def revert_override(
    acl: dict[str, Any],
    rule: str,
    sub_rule: str | None,
    recorded_before: dict[str, Any],
    recorded_after: dict[str, Any],
) -> Change:
    """The rules of ``acl`` with the slot put back to what ``recorded_before`` held.

    Raises :class:`SlotChanged` when the slot no longer holds what the override wrote
    (someone changed it since); the rest of the rule may have changed freely.
    """
    located = locate(acl, rule, sub_rule)
    shape = located.shape
    wrote = slot_of(recorded_after, shape, sub_rule)
    previous = slot_of(recorded_before, shape, sub_rule)
    before = copy.deepcopy(located.rule)
    rules = copy.deepcopy(list(acl.get("Rules") or []))
    if located.slot == previous:
        return Change(located, rules, before, before, False, "already back to the previous state")
    if located.slot != wrote:
        raise SlotChanged(
            f"{target_label(rule, sub_rule)} was changed since the override "
            f"(now {json.dumps(located.slot, sort_keys=True)}, the override wrote "
            f"{json.dumps(wrote, sort_keys=True)}): not reverting over someone else's edit"
        )
    _set_slot(rules[located.index], shape, sub_rule, copy.deepcopy(previous))
    return Change(located, rules, before, copy.deepcopy(rules[located.index]), True)


Settled = Literal["applied", "not_applied", "changed"]


def settle(
    acl: dict[str, Any],
    rule: str,
    sub_rule: str | None,
    recorded_before: dict[str, Any],
    recorded_after: dict[str, Any],
    shape: Shape,
) -> Settled:
    """What a write whose outcome is unknown did, read from the web ACL as it is now:
    ``applied`` (the slot holds what it wrote), ``not_applied`` (still the previous
    value), ``changed`` (something else: someone edited it, or the rule is gone)."""
    try:
        slot = locate(acl, rule, sub_rule).slot
    except WebAclError:
        return "changed"
    if slot == slot_of(recorded_after, shape, sub_rule):
        return "applied"
    if slot == slot_of(recorded_before, shape, sub_rule):
        return "not_applied"
    return "changed"


def target_label(rule: str, sub_rule: str | None) -> str:
    return f"{rule}:{sub_rule}" if sub_rule else rule


def diff(before: dict[str, Any], after: dict[str, Any], label: str = "rule") -> str:
    """A unified diff of two rule dicts as indented, key-sorted JSON (for dry runs)."""
    a = json.dumps(before, indent=2, sort_keys=True).splitlines()
    b = json.dumps(after, indent=2, sort_keys=True).splitlines()
    return "\n".join(
        difflib.unified_diff(a, b, f"{label} (before)", f"{label} (after)", lineterm="")
    )


def describe_rules(acl: dict[str, Any]) -> list[dict[str, Any]]:
    """Every rule with its action and the overrides in place (for ``rules show``)."""
    out: list[dict[str, Any]] = []
    for rule in acl.get("Rules") or []:
        group = rule_group(rule)
        item: dict[str, Any] = {"name": rule.get("Name"), "priority": rule.get("Priority")}
        if group is None:
            item |= {"shape": "custom", "action": action_name(rule.get("Action"))}
        else:
            item |= {
                "shape": "rule_group",
                "group": group.name if group.kind == "managed" else group.arn,
                "group_kind": group.kind,
                "vendor": group.vendor,
                "version": group.version,
                "override_action": action_name(rule.get("OverrideAction")),
                "rule_action_overrides": {
                    e.get("Name"): action_name(e.get("ActionToUse"))
                    for e in group.statement.get("RuleActionOverrides") or []
                },
                "excluded_rules": [
                    e.get("Name") for e in group.statement.get("ExcludedRules") or []
                ],
            }
        out.append(item)
    return out
