"""The detector's decisions, as pure functions of numbers (no I/O; unit-tested).

:func:`features` turns per-rule counts into the figures a decision reads;
:func:`judge` says whether a rule's block spike looks like customers being blocked (a
false positive) or like an attack; :func:`gate` applies the safety limits to a false
positive. docs/detector.md explains the features and the default thresholds.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal
from urllib.parse import unquote_plus

from rules_admin.guardrails import matches
from wafsiem.settings import DetectorSettings

Verdict = Literal["false_positive", "attack"]
Action = Literal["override", "skip", "keep"]

# an injection-signature rule: its blocks look like attacks unless the clients are known
_INJECTION_RULE = re.compile(
    r"sqli|crosssitescripting|xss|lfi|rfi|injection|log4j|ssrf|exploit|php|unix|windows|java",
    re.IGNORECASE,
)
_NOT_BROWSER = re.compile(
    r"bot|crawl|spider|slurp|headless|python|curl|wget|scrapy|go-http|java/|libwww|httpclient|"
    r"okhttp|phantom|selenium|puppeteer|playwright|sqlmap|nikto|nmap|masscan|zgrab|nuclei",
    re.IGNORECASE,
)
_PAYLOAD = re.compile(
    r"<\s*(script|svg|iframe|img|body)|javascript:|on(error|load)\s*=|alert\s*\(|prompt\s*\(|"
    r"union(\s+all)?\s+select|\bor\s+\d+\s*=\s*\d+|'\s*or\s*'|sleep\s*\(|waitfor\s+delay|"
    r"drop\s+table|information_schema|@@version|'\s*--|\.\./|/etc/passwd|\$\{jndi:",
    re.IGNORECASE,
)
_SCANNER_PATH = re.compile(
    r"/\.env|/\.git|wp-login|wp-admin|wp-content|xmlrpc\.php|phpmyadmin|/cgi-bin|\.php\b|"
    r"\.aspx?\b|/actuator|/server-status|web-inf|meta-inf|/vendor/phpunit|\.(bak|sql|ini|log)$",
    re.IGNORECASE,
)


def is_browser(user_agent: str | None) -> bool:
    """A browser's user agent: ``Mozilla/5.0 (…`` without a bot or tool token."""
    if not user_agent or not user_agent.startswith("Mozilla/5.0 ("):
        return False
    return _NOT_BROWSER.search(user_agent) is None


def has_payload(text: str | None) -> bool:
    """An attack string in a path or query (decoded once, as scanners encode them)."""
    if not text:
        return False
    return _PAYLOAD.search(text) is not None or _PAYLOAD.search(unquote_plus(text)) is not None


def is_scanner_path(path: str | None) -> bool:
    return bool(path) and _SCANNER_PATH.search(path or "") is not None


def is_injection_rule(rule: str | None, sub_rule: str | None) -> bool:
    name = sub_rule or rule or ""
    return _INJECTION_RULE.search(name) is not None


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole > 0 else 0.0


def _weighted(counts: Counter[str | None], test: Any) -> int:
    return sum(n for value, n in counts.items() if test(value))


@dataclass
class Features:
    """What a decision reads: the rule's numbers in the window and its baseline."""

    blocks: int
    baseline_blocks: int
    window_minutes: float
    baseline_minutes: float
    client_ips: int = 0
    countries: int = 0
    top_ip_share: float = 0.0
    blocks_per_ip: float = 0.0
    browser_share: float = 0.0
    payload_share: float = 0.0
    scanner_path_share: float = 0.0
    other_rule_ip_share: float = 0.0
    top_ja4_share: float = 0.0
    known_client_share: float = 0.0
    injection_rule: bool = False
    top_paths: list[str] = field(default_factory=list)

    @property
    def expected_blocks(self) -> float:
        """Blocks the baseline rate predicts for the window."""
        return self.baseline_blocks * self.window_minutes / self.baseline_minutes

    @property
    def spike_ratio(self) -> float:
        return round(self.blocks / max(self.expected_blocks, 1.0), 2)

    def evidence(self) -> dict[str, Any]:
        out = asdict(self)
        out["expected_blocks"] = round(self.expected_blocks, 2)
        out["spike_ratio"] = self.spike_ratio
        return out


def features(
    *,
    blocks: int,
    baseline_blocks: int,
    window_minutes: float,
    baseline_minutes: float,
    ips: Counter[str | None],
    countries: Counter[str | None],
    paths: Counter[str | None],
    queries: Counter[str | None],
    user_agents: Counter[str | None],
    ja4s: Counter[str | None],
    other_rule_ips: Iterable[str],
    known_ips: Iterable[str],
    rule: str | None,
    sub_rule: str | None,
) -> Features:
    """The figures of one rule key; the counters count its blocked requests per value."""
    distinct = {ip for ip in ips if ip is not None}
    top_ip = max((n for ip, n in ips.items() if ip is not None), default=0)
    top_ja4 = max((n for v, n in ja4s.items() if v is not None), default=0)
    return Features(
        blocks=blocks,
        baseline_blocks=baseline_blocks,
        window_minutes=window_minutes,
        baseline_minutes=baseline_minutes,
        client_ips=len(distinct),
        countries=sum(1 for c in countries if c is not None),
        top_ip_share=_share(top_ip, blocks),
        blocks_per_ip=round(blocks / len(distinct), 2) if distinct else float(blocks),
        browser_share=_share(_weighted(user_agents, is_browser), blocks),
        payload_share=min(
            1.0, _share(_weighted(queries, has_payload) + _weighted(paths, has_payload), blocks)
        ),
        scanner_path_share=_share(_weighted(paths, is_scanner_path), blocks),
        other_rule_ip_share=_share(len(distinct & set(other_rule_ips)), len(distinct)),
        top_ja4_share=_share(top_ja4, blocks),
        known_client_share=_share(len(distinct & set(known_ips)), len(distinct)),
        injection_rule=is_injection_rule(rule, sub_rule),
        top_paths=[p for p, _ in sorted(paths.items(), key=lambda kv: -kv[1])[:3] if p],
    )


def is_spike(f: Features, cfg: DetectorSettings) -> bool:
    return f.blocks >= cfg.min_blocks and f.spike_ratio >= cfg.min_spike_ratio


@dataclass
class Judgement:
    verdict: Verdict
    reasons: list[str]


def judge(f: Features, cfg: DetectorSettings) -> Judgement:
    """False positive only when nothing looks like an attack and the blocked clients are
    broad (many IPs and countries) or known (allowed lately); ``reasons`` say why."""
    attack: list[str] = []
    checks = (
        (
            f.blocks_per_ip > cfg.max_blocks_per_ip,
            "blocks_per_ip",
            f.blocks_per_ip,
            ">",
            cfg.max_blocks_per_ip,
        ),
        (
            f.top_ip_share > cfg.max_top_ip_share,
            "top_ip_share",
            f.top_ip_share,
            ">",
            cfg.max_top_ip_share,
        ),
        (
            f.browser_share < cfg.min_browser_share,
            "browser_share",
            f.browser_share,
            "<",
            cfg.min_browser_share,
        ),
        (
            f.payload_share > cfg.max_payload_share,
            "payload_share",
            f.payload_share,
            ">",
            cfg.max_payload_share,
        ),
        (
            f.scanner_path_share > cfg.max_scanner_path_share,
            "scanner_path_share",
            f.scanner_path_share,
            ">",
            cfg.max_scanner_path_share,
        ),
        (
            f.other_rule_ip_share > cfg.max_other_rule_ip_share,
            "other_rule_ip_share",
            f.other_rule_ip_share,
            ">",
            cfg.max_other_rule_ip_share,
        ),
        (
            f.top_ja4_share > cfg.max_top_ja4_share,
            "top_ja4_share",
            f.top_ja4_share,
            ">",
            cfg.max_top_ja4_share,
        ),
        (f.client_ips < cfg.min_client_ips, "client_ips", f.client_ips, "<", cfg.min_client_ips),
    )
    for failed, name, value, op, limit in checks:
        if failed:
            attack.append(f"{name} {value} {op} {limit}")
    broad = f.client_ips >= cfg.broad_client_ips and f.countries >= cfg.broad_countries
    known = f.known_client_share >= cfg.min_known_client_share
    if not attack:
        if f.injection_rule and not known:
            attack.append(
                f"injection signature and known_client_share {f.known_client_share} < "
                f"{cfg.min_known_client_share}"
            )
        elif not broad and not known:
            attack.append(
                f"narrow (client_ips {f.client_ips}, countries {f.countries}) and "
                f"known_client_share {f.known_client_share} < {cfg.min_known_client_share}"
            )
    if attack:
        return Judgement("attack", attack)
    why = [f"spike_ratio {f.spike_ratio} >= {cfg.min_spike_ratio} ({f.blocks} blocks)"]
    if broad:
        why.append(f"broad: {f.client_ips} client IPs, {f.countries} countries")
    if known:
        why.append(f"known clients: {f.known_client_share} of blocked IPs were allowed lately")
    why.append(
        f"customer-like: browser_share {f.browser_share}, blocks_per_ip {f.blocks_per_ip}, "
        f"top_ip_share {f.top_ip_share}, no payloads or scanner paths"
    )
    return Judgement("false_positive", why)


# -- targets and safety --------------------------------------------------------------------


@dataclass
class Gate:
    action: Action
    blocked_by: str | None = None
    detail: str = ""


def gate(
    rule: str | None,
    sub_rule: str | None,
    cfg: DetectorSettings,
    *,
    active: bool,
    minutes_since_last: float | None,
    overrides_last_hour: int,
) -> Gate:
    """May a false positive on this target be overridden now? The first limit that
    says no is named."""
    protected = matches(cfg.protected_rules, rule, sub_rule)
    if protected:
        return Gate("skip", "protected", f"protected by {protected!r}")
    if not matches(cfg.allow_rules, rule, sub_rule):
        return Gate("skip", "not_allowed", "not in ALLOW_RULES")
    if active:
        return Gate("skip", "already_overridden", "an override of this rule is active")
    if minutes_since_last is not None and minutes_since_last < cfg.cooldown_minutes:
        return Gate(
            "skip",
            "cooldown",
            f"last automatic override {minutes_since_last:.0f} min ago < {cfg.cooldown_minutes}",
        )
    if overrides_last_hour >= cfg.max_overrides_per_hour:
        return Gate(
            "skip",
            "hourly_limit",
            f"{overrides_last_hour} automatic overrides in the last hour "
            f">= {cfg.max_overrides_per_hour}",
        )
    return Gate("override")
