"""The simulated estate: domains (brands x markets x sub-domains) with a heavy-tailed
traffic split, mapped to web ACLs and to the resources (ALBs, CloudFront distributions,
API stages) that front them. Independent of the seed: the same ``--domains N`` always
yields the same domains.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import orjson

from ingest.generator.catalogue import (
    APAC_MARKETS,
    BRANDS,
    EU_MARKETS,
    MARKETS,
    SUBDOMAINS,
    WebAcl,
    build_acls,
)
from ingest.generator.population import header

PRIMARY_ACCOUNT = "111122223333"
API_ACCOUNT = "444455556666"
ZIPF_EXPONENT = 1.15


@dataclass(frozen=True, slots=True)
class Domain:
    index: int
    name: str
    brand: str
    market: str  # country code of the audience
    kind: str  # shop | mobile | media | api | corp
    acl: WebAcl
    source_id: str
    weight: float
    host_header: bytes  # serialised {"name":"host","value":...}
    host_header_h1: bytes  # "Host" as HTTP/1.1 clients send it
    # pre-serialised record pieces (see records.py)
    source_piece: bytes = field(default=b"", init=False)
    host_piece: bytes = field(default=b"", init=False)

    def __post_init__(self) -> None:
        dumps = orjson.dumps
        object.__setattr__(
            self,
            "source_piece",
            b',"httpSourceName":'
            + dumps(self.acl.source_name)
            + b',"httpSourceId":'
            + dumps(self.source_id),
        )
        object.__setattr__(
            self, "host_piece", b',"fragment":"","scheme":"https","host":' + dumps(self.name) + b"}"
        )


def _digest(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()


def _candidates() -> list[tuple[float, str, str, str, str]]:
    """(score, domain, brand, market, kind), best first."""
    by_weight = sorted(MARKETS, key=lambda m: (-m[2], m[0]))
    out: list[tuple[float, str, str, str, str]] = []
    for brand, brand_weight, home in BRANDS:
        reach = 3 + int(brand_weight)
        markets = [m for m in by_weight if m[0] == home]
        markets += [m for m in by_weight if m[0] != home][: reach - 1]
        for country, tld, market_weight in markets:
            home_boost = 2.5 if country == home else 1.0
            for sub, kind, sub_weight in SUBDOMAINS:
                score = brand_weight * market_weight * home_boost * sub_weight
                out.append((score, f"{sub}.{brand}.{tld}", brand, country, kind))
    out.sort(key=lambda c: (-c[0], c[1]))
    return out


def _acl_for(kind: str, market: str, acls: dict[str, WebAcl]) -> WebAcl:
    if kind in ("mobile", "media"):
        return acls["storefront-cdn"]
    if kind == "api":
        return acls["public-api"]
    if kind == "corp":
        return acls["corp-web"]
    if market in EU_MARKETS:
        return acls["shop-eu-prod"]
    if market in APAC_MARKETS:
        return acls["shop-apac-prod"]
    return acls["shop-us-prod"]


def _source_id(acl: WebAcl, name: str) -> str:
    h = _digest("source", acl.name, name)
    if acl.source_name == "CF":
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        raw = int(h, 16)
        chars = []
        for _ in range(13):
            raw, rem = divmod(raw, len(alphabet))
            chars.append(alphabet[rem])
        return "E" + "".join(chars)
    if acl.source_name == "APIGW":
        return f"{acl.account}:{h[:10]}:prod"
    alb = int(h[:2], 16) % 3 + 1  # three ALBs behind each regional shop ACL
    return f"{acl.account}-app/{acl.name}-alb-{alb}/{_digest('alb', acl.name, str(alb))[:16]}"


class Topology:
    def __init__(self, domain_count: int) -> None:
        if domain_count < 1:
            raise ValueError("domain count must be at least 1")
        self.acls = build_acls(PRIMARY_ACCOUNT, API_ACCOUNT)
        by_name = {acl.name: acl for acl in self.acls}
        candidates = _candidates()
        extra = 0
        while len(candidates) < domain_count:  # campaign microsites beyond the catalogue
            brand, _, home = BRANDS[extra % len(BRANDS)]
            tld = next(t for c, t, _ in MARKETS if c == home)
            candidates.append(
                (0.0, f"promo{extra // len(BRANDS) + 1}.{brand}.{tld}", brand, home, "shop")
            )
            extra += 1
        raw = [1.0 / (rank + 1) ** ZIPF_EXPONENT for rank in range(domain_count)]
        total = sum(raw)
        self.domains: list[Domain] = []
        for rank, (_, name, brand, market, kind) in enumerate(candidates[:domain_count]):
            acl = _acl_for(kind, market, by_name)
            self.domains.append(
                Domain(
                    index=rank,
                    name=name,
                    brand=brand,
                    market=market,
                    kind=kind,
                    acl=acl,
                    source_id=_source_id(acl, name),
                    weight=raw[rank] / total,
                    host_header=header("host", name),
                    host_header_h1=header("Host", name),
                )
            )
        # Only ACLs that front at least one domain take part.
        used = {d.acl.name for d in self.domains}
        self.active_acls = [acl for acl in self.acls if acl.name in used]
        self.by_name = {d.name: d for d in self.domains}

    def acl(self, name: str) -> WebAcl:
        for acl in self.acls:
            if acl.name == name:
                return acl
        raise KeyError(name)

    def domains_of(self, acl_name: str, kinds: tuple[str, ...] = ()) -> list[Domain]:
        return [
            d for d in self.domains if d.acl.name == acl_name and (not kinds or d.kind in kinds)
        ]

    def lookup_table(self) -> tuple[int, list[Domain]]:
        """(bits, table): sampling ``table[getrandbits(bits)]`` follows the domain weights;
        every domain gets at least one slot."""
        bits = max(14, (64 * len(self.domains)).bit_length())
        size = 1 << bits
        counts = [max(1, round(d.weight * size)) for d in self.domains]
        counts[0] += size - sum(counts)
        table: list[Domain] = []
        for domain, count in zip(self.domains, counts, strict=True):
            table.extend([domain] * count)
        return bits, table
