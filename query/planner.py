"""Split a filter's days between the tiers by the tiering ledger.

A day the ledger calls ``cold`` is answered by DuckDB from its committed partition;
every other day (hot, or mid-tiering with its index still in place) by OpenSearch.
Never both: late records that reached a new hot index for a cold day appear once the
next ``tier run`` merges them into the partition.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from opensearchpy import OpenSearch

from query.models import Plan
from tiering.ledger import Ledger


@dataclass(frozen=True)
class TierPlan:
    hot: list[date]
    cold: list[date]

    def model(self) -> Plan:
        return Plan(
            hot_days=[d.isoformat() for d in self.hot],
            cold_days=[d.isoformat() for d in self.cold],
        )


def split_days(days: Iterable[date], cold_days: set[date]) -> TierPlan:
    hot: list[date] = []
    cold: list[date] = []
    for day in days:
        (cold if day in cold_days else hot).append(day)
    return TierPlan(hot=hot, cold=cold)


def ledger_cold_days(client: OpenSearch, state_index: str, prefix: str) -> set[date]:
    return {e.date for e in Ledger(client, state_index, prefix).all() if e.state == "cold"}
