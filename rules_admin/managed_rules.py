"""Which sub-rules a rule group has, so an override naming a missing one is refused.

AWS silently ignores a ``RuleActionOverrides`` entry that names a rule the group does
not have, so the name is checked before anything is written:

* a managed rule group: ``DescribeManagedRuleGroup`` where the API offers it, else the
  catalogue ``data/managed_rule_groups.json`` (AWS managed groups, with its source and
  date) — the WAFv2 emulator does not implement that call;
* a customer rule group (``RuleGroupReferenceStatement``): ``GetRuleGroup`` by ARN.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from rules_admin.webacl import Group
from wafsiem.errors import WafsiemError

log = logging.getLogger(__name__)

CATALOGUE_FILE = "managed_rule_groups.json"


@dataclass(frozen=True)
class Catalogue:
    source: str
    source_url: str
    retrieved: str
    groups: dict[str, frozenset[str]]  # group name -> current and older rule names

    def rules(self, group: str) -> frozenset[str] | None:
        return self.groups.get(group)


@lru_cache(maxsize=1)
def load_catalogue() -> Catalogue:
    """The packaged catalogue (read-only data, read once)."""
    text = resources.files("rules_admin").joinpath("data", CATALOGUE_FILE).read_text("utf-8")
    return parse_catalogue(json.loads(text))


def parse_catalogue(doc: dict[str, Any]) -> Catalogue:
    groups = {
        name: frozenset(entry["rules"]) | frozenset(entry.get("older_rule_names", []))
        for name, entry in doc["groups"].items()
    }
    return Catalogue(doc["source"], doc["source_url"], doc["retrieved"], groups)


@dataclass(frozen=True)
class SubRuleNames:
    names: frozenset[str] | None  # None: could not be learned
    source: str  # DescribeManagedRuleGroup | catalogue | GetRuleGroup | unavailable
    detail: str | None = None


# Error codes that mean "the caller or the request is wrong", not "the API is missing".
_DEFINITE = {"WAFNonexistentItemException", "WAFInvalidParameterException"}


@dataclass
class SubRuleResolver:
    """Learns a group's rule names; remembers when DescribeManagedRuleGroup is unavailable
    (per instance, so an emulator is asked once, not before every override)."""

    catalogue: Catalogue = field(default_factory=load_catalogue)
    describe_available: bool = True

    def check(self, wafv2: Any, group: Group, scope: str, rule: str, sub_rule: str) -> str:
        """The source the name was checked with; 422 when the group has no such rule
        or its rules cannot be learned (nothing is written either way)."""
        names = self.names(wafv2, group, scope)
        if names.names is None:
            raise WafsiemError(f"cannot check sub-rule {sub_rule!r}: {names.detail}", status=422)
        if sub_rule not in names.names:
            raise WafsiemError(
                f"rule group of {rule!r} has no rule {sub_rule!r} "
                f"(checked with {names.source}); nothing written",
                status=422,
            )
        return names.source

    def names(self, wafv2: Any, group: Group, scope: str) -> SubRuleNames:
        if group.kind == "customer":
            return self._customer(wafv2, group)
        return self._managed(wafv2, group, scope)

    def _customer(self, wafv2: Any, group: Group) -> SubRuleNames:
        try:
            response = wafv2.get_rule_group(ARN=group.arn)
        except (ClientError, BotoCoreError) as exc:
            return SubRuleNames(None, "unavailable", f"GetRuleGroup {group.arn}: {exc}")
        rules = response.get("RuleGroup", {}).get("Rules") or []
        return SubRuleNames(frozenset(r["Name"] for r in rules), "GetRuleGroup")

    def _managed(self, wafv2: Any, group: Group, scope: str) -> SubRuleNames:
        detail = None
        if self.describe_available:
            kwargs: dict[str, Any] = {
                "VendorName": group.vendor,
                "Name": group.name,
                "Scope": scope,
            }
            if group.version:
                kwargs["VersionName"] = group.version
            try:
                response = wafv2.describe_managed_rule_group(**kwargs)
                rules = response.get("Rules") or []
                return SubRuleNames(frozenset(r["Name"] for r in rules), "DescribeManagedRuleGroup")
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code in _DEFINITE:
                    return SubRuleNames(
                        None, "unavailable", f"DescribeManagedRuleGroup: {code}: {exc}"
                    )
                detail = f"DescribeManagedRuleGroup unavailable ({code or exc}); catalogue used"
                self.describe_available = False
                log.warning("%s", detail)
            except BotoCoreError as exc:
                detail = f"DescribeManagedRuleGroup failed ({exc}); catalogue used"
        names = self.catalogue.rules(group.name or "") if group.vendor == "AWS" else None
        if names is None:
            return SubRuleNames(
                None,
                "unavailable",
                f"no rule list for {group.vendor}:{group.name} "
                f"(DescribeManagedRuleGroup unavailable and not in the catalogue)",
            )
        return SubRuleNames(names, f"catalogue ({self.catalogue.retrieved})", detail)
