"""Static catalogue: AWS managed rule groups (real rule names and labels), web ACL
blueprints, brands and markets.

Rule names and label names follow the AWS WAF developer guide ("AWS Managed Rules rule
groups list"); the detector and triage rely on them, so keep them exact.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

COUNT = "COUNT"
BLOCK = "BLOCK"
ALLOW = "ALLOW"
CAPTCHA = "CAPTCHA"
CHALLENGE = "CHALLENGE"


@dataclass(frozen=True, slots=True)
class SubRule:
    """A rule inside a rule group, with its default action and the label it adds."""

    name: str
    label: str
    action: str = BLOCK


@dataclass(frozen=True, slots=True)
class RuleGroupDef:
    group_id: str  # "AWS#AWSManagedRulesCommonRuleSet" or a customer rule group ARN
    name: str
    rules: tuple[SubRule, ...]

    def rule(self, name: str) -> SubRule:
        for sub in self.rules:
            if sub.name == name:
                return sub
        raise KeyError(f"{self.name} has no rule {name}")


def _managed(name: str, prefix: str, rules: list[tuple[str, ...]]) -> RuleGroupDef:
    """A managed rule group: (rule, label suffix[, default action]) entries in order."""
    subs = []
    for entry in rules:
        action = entry[2] if len(entry) == 3 else BLOCK
        subs.append(SubRule(entry[0], f"awswaf:managed:aws:{prefix}:{entry[1]}", action))
    return RuleGroupDef(f"AWS#{name}", name, tuple(subs))


CRS = _managed(
    "AWSManagedRulesCommonRuleSet",
    "core-rule-set",
    [
        ("NoUserAgent_HEADER", "NoUserAgent_Header"),
        ("UserAgent_BadBots_HEADER", "BadBots_Header"),
        ("SizeRestrictions_QUERYSTRING", "SizeRestrictions_QueryString"),
        ("SizeRestrictions_Cookie_HEADER", "SizeRestrictions_Cookie_Header"),
        ("SizeRestrictions_BODY", "SizeRestrictions_Body"),
        ("SizeRestrictions_URIPATH", "SizeRestrictions_URIPath"),
        ("EC2MetaDataSSRF_BODY", "EC2MetaDataSSRF_Body"),
        ("EC2MetaDataSSRF_COOKIE", "EC2MetaDataSSRF_Cookie"),
        ("EC2MetaDataSSRF_URIPATH", "EC2MetaDataSSRF_URIPath"),
        ("EC2MetaDataSSRF_QUERYARGUMENTS", "EC2MetaDataSSRF_QueryArguments"),
        ("GenericLFI_QUERYARGUMENTS", "GenericLFI_QueryArguments"),
        ("GenericLFI_URIPATH", "GenericLFI_URIPath"),
        ("GenericLFI_BODY", "GenericLFI_Body"),
        ("RestrictedExtensions_URIPATH", "RestrictedExtensions_URIPath"),
        ("RestrictedExtensions_QUERYARGUMENTS", "RestrictedExtensions_QueryArguments"),
        ("GenericRFI_QUERYARGUMENTS", "GenericRFI_QueryArguments"),
        ("GenericRFI_BODY", "GenericRFI_Body"),
        ("GenericRFI_URIPATH", "GenericRFI_URIPath"),
        ("CrossSiteScripting_COOKIE", "CrossSiteScripting_Cookie"),
        ("CrossSiteScripting_QUERYARGUMENTS", "CrossSiteScripting_QueryArguments"),
        ("CrossSiteScripting_BODY", "CrossSiteScripting_Body"),
        ("CrossSiteScripting_URIPATH", "CrossSiteScripting_URIPath"),
    ],
)

SQLI = _managed(
    "AWSManagedRulesSQLiRuleSet",
    "sql-database",
    [
        ("SQLi_QUERYARGUMENTS", "SQLi_QueryArguments"),
        ("SQLiExtendedPatterns_QUERYARGUMENTS", "SQLiExtendedPatterns_QueryArguments"),
        ("SQLi_BODY", "SQLi_Body"),
        ("SQLiExtendedPatterns_BODY", "SQLiExtendedPatterns_Body"),
        ("SQLi_COOKIE", "SQLi_Cookie"),
        ("SQLi_URIPATH", "SQLi_URIPath"),
    ],
)

KNOWN_BAD_INPUTS = _managed(
    "AWSManagedRulesKnownBadInputsRuleSet",
    "known-bad-inputs",
    [
        ("JavaDeserializationRCE_HEADER", "JavaDeserializationRCE_Header"),
        ("JavaDeserializationRCE_BODY", "JavaDeserializationRCE_Body"),
        ("JavaDeserializationRCE_URIPATH", "JavaDeserializationRCE_URIPath"),
        ("JavaDeserializationRCE_QUERYSTRING", "JavaDeserializationRCE_QueryString"),
        ("Host_localhost_HEADER", "Host_Localhost_Header"),
        ("PROPFIND_METHOD", "Propfind_Method"),
        ("ExploitablePaths_URIPATH", "ExploitablePaths_URIPath"),
        ("Log4JRCE_HEADER", "Log4JRCE_Header"),
        ("Log4JRCE_QUERYSTRING", "Log4JRCE_QueryString"),
        ("Log4JRCE_BODY", "Log4JRCE_Body"),
        ("Log4JRCE_URIPATH", "Log4JRCE_URIPath"),
    ],
)

IP_REPUTATION = _managed(
    "AWSManagedRulesAmazonIpReputationList",
    "amazon-ip-list",
    [
        ("AWSManagedIPReputationList", "AWSManagedIPReputationList"),
        ("AWSManagedReconnaissanceList", "AWSManagedReconnaissanceList"),
        ("AWSManagedIPDDoSList", "AWSManagedIPDDoSList", COUNT),
    ],
)

BOT_CONTROL = _managed(
    "AWSManagedRulesBotControlRuleSet",
    "bot-control",
    [
        ("CategoryAdvertising", "bot:category:advertising"),
        ("CategoryArchiver", "bot:category:archiver"),
        ("CategoryContentFetcher", "bot:category:content_fetcher"),
        ("CategoryEmailClient", "bot:category:email_client"),
        ("CategoryHttpLibrary", "bot:category:http_library"),
        ("CategoryLinkChecker", "bot:category:link_checker"),
        ("CategoryMiscellaneous", "bot:category:miscellaneous"),
        ("CategoryMonitoring", "bot:category:monitoring"),
        ("CategoryScrapingFramework", "bot:category:scraping_framework"),
        ("CategorySearchEngine", "bot:category:search_engine"),
        ("CategorySecurity", "bot:category:security"),
        ("CategorySeo", "bot:category:seo"),
        ("CategorySocialMedia", "bot:category:social_media"),
        ("CategoryAI", "bot:category:ai"),
        ("SignalAutomatedBrowser", "signal:automated_browser"),
        ("SignalKnownBotDataCenter", "signal:known_bot_data_center"),
        ("SignalNonBrowserUserAgent", "signal:non_browser_user_agent"),
    ],
)
BOT_LABEL = "awswaf:managed:aws:bot-control:"

MANAGED_GROUPS = {g.name: g for g in (CRS, SQLI, KNOWN_BAD_INPUTS, IP_REPUTATION, BOT_CONTROL)}

# Web ACL rule names as the AWS console names managed rule group references.
R_IPREP = "AWS-AWSManagedRulesAmazonIpReputationList"
R_CRS = "AWS-AWSManagedRulesCommonRuleSet"
R_KBI = "AWS-AWSManagedRulesKnownBadInputsRuleSet"
R_SQLI = "AWS-AWSManagedRulesSQLiRuleSet"
R_BOT = "AWS-AWSManagedRulesBotControlRuleSet"
R_CUSTOM = "CustomerRuleGroup"  # resolved to the ACL's customer rule group rule name
R_RATE_LOGIN = "RateLimitLogin"
R_RATE_IP = "RateLimitPerIP"
R_GEO = "GeoBlockSanctioned"
R_CAPTCHA = "CaptchaGiftCardBalance"
R_CHALLENGE = "ChallengeAccountPages"
R_COUNT_API = "CountNewApiKeyPolicy"

GEO_BLOCKED = frozenset({"KP", "IR", "SY", "CU"})

# Customer rule group sub-rules: (name, label suffix).
CUSTOM_RULES = (
    ("BlockWordPressProbes", "wordpress-probe"),
    ("BlockAdminPaths", "admin-path"),
    ("BlockXmlRpc", "xmlrpc"),
)


@dataclass(frozen=True, slots=True)
class AclRule:
    name: str
    type: str  # REGULAR | RATE_BASED | MANAGED_RULE_GROUP | GROUP
    action: str = BLOCK
    group: RuleGroupDef | None = None
    overrides: tuple[tuple[str, str], ...] = ()
    labels: tuple[str, ...] = ()
    rate_limit: int = 0
    window_sec: int = 300
    geo: bool = False

    def override(self, sub_rule: str) -> str | None:
        for name, action in self.overrides:
            if name == sub_rule:
                return action
        return None


@dataclass(frozen=True)
class WebAcl:
    name: str
    scope: str  # REGIONAL | CLOUDFRONT
    region: str
    account: str
    source_name: str  # ALB | CF | APIGW
    rules: tuple[AclRule, ...]
    index: int = 0
    uid: str = field(default="")
    arn: str = field(default="", init=False)

    def __post_init__(self) -> None:
        if self.scope == "CLOUDFRONT":
            arn = f"arn:aws:wafv2:us-east-1:{self.account}:global/webacl/{self.name}/{self.uid}"
        else:
            arn = (
                f"arn:aws:wafv2:{self.region}:{self.account}:regional/webacl/{self.name}/{self.uid}"
            )
        object.__setattr__(self, "arn", arn)

    @property
    def log_region(self) -> str:
        """The region segment of WAF's direct-to-S3 log keys (``cloudfront`` for global)."""
        return "cloudfront" if self.scope == "CLOUDFRONT" else self.region

    @property
    def body_limit(self) -> int:
        """Body inspection limit: 16 KB default for CloudFront, 8 KB fixed for ALB/APIGW."""
        return 16384 if self.scope == "CLOUDFRONT" else 8192

    def rule(self, name: str) -> AclRule | None:
        for rule in self.rules:
            if rule.name == name:
                return rule
        return None


def stable_uuid(*parts: str) -> str:
    """A UUID-shaped id derived from ``parts`` (stable across runs and machines)."""
    h = hashlib.sha256("/".join(parts).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def _custom_group(account: str, scope: str, region: str, name: str) -> AclRule:
    uid = stable_uuid("rulegroup", account, region, name)
    if scope == "CLOUDFRONT":
        arn = f"arn:aws:wafv2:us-east-1:{account}:global/rulegroup/{name}/{uid}"
    else:
        arn = f"arn:aws:wafv2:{region}:{account}:regional/rulegroup/{name}/{uid}"
    subs = tuple(
        SubRule(rule, f"awswaf:{account}:rulegroup:{name}:{label}") for rule, label in CUSTOM_RULES
    )
    return AclRule(name, "GROUP", group=RuleGroupDef(arn, name, subs))


def _managed_rule(rule_name: str, group: RuleGroupDef, **overrides: str) -> AclRule:
    return AclRule(
        rule_name, "MANAGED_RULE_GROUP", group=group, overrides=tuple(sorted(overrides.items()))
    )


def _acl_label(account: str, acl: str, label: str) -> str:
    return f"awswaf:{account}:webacl:{acl}:{label}"


BOT_COUNT = {"CategoryHttpLibrary": COUNT, "SignalNonBrowserUserAgent": COUNT}


def _shop_rules(
    account: str, scope: str, region: str, acl: str, crs: dict[str, str]
) -> tuple[AclRule, ...]:
    return (
        AclRule(R_RATE_LOGIN, "RATE_BASED", rate_limit=100, window_sec=300),
        AclRule(R_RATE_IP, "RATE_BASED", rate_limit=2000, window_sec=300),
        AclRule(R_GEO, "REGULAR", geo=True),
        _managed_rule(R_IPREP, IP_REPUTATION),
        _managed_rule(R_CRS, CRS, **crs),
        _managed_rule(R_KBI, KNOWN_BAD_INPUTS),
        _managed_rule(R_SQLI, SQLI),
        _custom_group(account, scope, region, "shop-custom-rules"),
        AclRule(R_CAPTCHA, "REGULAR", action=CAPTCHA),
        AclRule(R_CHALLENGE, "REGULAR", action=CHALLENGE),
        _managed_rule(R_BOT, BOT_CONTROL, **BOT_COUNT),
        AclRule(
            R_COUNT_API,
            "REGULAR",
            action=COUNT,
            labels=(_acl_label(account, acl, "api-key-missing"),),
        ),
    )


def build_acls(primary_account: str, api_account: str) -> list[WebAcl]:
    """The web ACLs of the simulated estate, in a fixed order."""
    a, b = primary_account, api_account
    specs: list[tuple[str, str, str, str, str, tuple[AclRule, ...]]] = [
        (
            "shop-eu-prod",
            "REGIONAL",
            "eu-west-1",
            a,
            "ALB",
            _shop_rules(a, "REGIONAL", "eu-west-1", "shop-eu-prod", {}),
        ),
        (
            "shop-us-prod",
            "REGIONAL",
            "us-east-1",
            a,
            "ALB",
            _shop_rules(
                a, "REGIONAL", "us-east-1", "shop-us-prod", {"SizeRestrictions_BODY": COUNT}
            ),
        ),
        (
            "shop-apac-prod",
            "REGIONAL",
            "ap-southeast-2",
            a,
            "ALB",
            _shop_rules(a, "REGIONAL", "ap-southeast-2", "shop-apac-prod", {}),
        ),
        (
            "storefront-cdn",
            "CLOUDFRONT",
            "us-east-1",
            a,
            "CF",
            (
                AclRule(R_RATE_IP, "RATE_BASED", rate_limit=5000, window_sec=300),
                _managed_rule(R_IPREP, IP_REPUTATION),
                _managed_rule(R_CRS, CRS, NoUserAgent_HEADER=COUNT),
                _managed_rule(R_KBI, KNOWN_BAD_INPUTS),
                _managed_rule(R_BOT, BOT_CONTROL, **BOT_COUNT),
            ),
        ),
        (
            "public-api",
            "REGIONAL",
            "us-east-1",
            b,
            "APIGW",
            (
                AclRule(R_RATE_IP, "RATE_BASED", rate_limit=3000, window_sec=60),
                _managed_rule(R_IPREP, IP_REPUTATION),
                _managed_rule(R_CRS, CRS, SizeRestrictions_BODY=COUNT, NoUserAgent_HEADER=COUNT),
                _managed_rule(R_SQLI, SQLI),
                _managed_rule(R_KBI, KNOWN_BAD_INPUTS),
            ),
        ),
        (
            "corp-web",
            "CLOUDFRONT",
            "us-east-1",
            a,
            "CF",
            (
                AclRule(R_RATE_IP, "RATE_BASED", rate_limit=2000, window_sec=300),
                AclRule(R_GEO, "REGULAR", geo=True),
                _managed_rule(R_IPREP, IP_REPUTATION),
                _managed_rule(R_CRS, CRS),
                _managed_rule(R_KBI, KNOWN_BAD_INPUTS),
                _managed_rule(R_SQLI, SQLI),
                _custom_group(a, "CLOUDFRONT", "us-east-1", "corp-custom-rules"),
                _managed_rule(R_BOT, BOT_CONTROL, **BOT_COUNT),
            ),
        ),
    ]
    acls = []
    for index, (name, scope, region, account, source, rules) in enumerate(specs):
        uid = stable_uuid("webacl", account, region, name)
        acls.append(WebAcl(name, scope, region, account, source, rules, index, uid))
    return acls


# Brands: (name, weight, home market). Fictional names; TLDs per market below.
BRANDS: tuple[tuple[str, float, str], ...] = (
    ("alpenwear", 10.0, "DE"),
    ("veloxsport", 8.0, "GB"),
    ("lunahome", 7.0, "FR"),
    ("brightbean", 6.0, "US"),
    ("oakandpine", 5.0, "US"),
    ("marisol", 4.5, "ES"),
    ("nordkids", 4.0, "SE"),
    ("kitetech", 3.5, "NL"),
    ("pebblebay", 3.0, "AU"),
    ("ironfern", 2.5, "CA"),
    ("solvia", 2.0, "IT"),
    ("tundra-outdoor", 1.5, "PL"),
    ("sakura-living", 1.2, "JP"),
    ("fjordline", 1.0, "NO"),
)

# Market: (country, tld, weight). The tld a domain uses decides its audience.
MARKETS: tuple[tuple[str, str, float], ...] = (
    ("US", "com", 10.0),
    ("GB", "co.uk", 6.0),
    ("DE", "de", 6.0),
    ("FR", "fr", 4.0),
    ("IT", "it", 3.0),
    ("ES", "es", 3.0),
    ("NL", "nl", 2.5),
    ("CA", "ca", 2.5),
    ("AU", "com.au", 2.0),
    ("SE", "se", 1.5),
    ("PL", "pl", 1.5),
    ("BE", "be", 1.2),
    ("AT", "at", 1.2),
    ("CH", "ch", 1.2),
    ("IE", "ie", 1.0),
    ("DK", "dk", 1.0),
    ("NO", "no", 0.8),
    ("FI", "fi", 0.7),
    ("PT", "pt", 0.7),
    ("JP", "co.jp", 1.5),
)
EU_MARKETS = frozenset(
    {"GB", "DE", "FR", "IT", "ES", "NL", "SE", "PL", "BE", "AT", "CH", "IE", "DK", "NO", "FI", "PT"}
)
APAC_MARKETS = frozenset({"AU", "JP"})

# Sub-domain: (label, kind, weight).
SUBDOMAINS: tuple[tuple[str, str, float], ...] = (
    ("www", "shop", 10.0),
    ("m", "mobile", 3.0),
    ("shop", "shop", 2.0),
    ("api", "api", 2.5),
    ("static", "media", 2.0),
    ("img", "media", 1.2),
    ("account", "shop", 1.0),
    ("help", "corp", 1.0),
    ("blog", "corp", 0.8),
    ("careers", "corp", 0.5),
    ("press", "corp", 0.4),
    ("b2b", "shop", 0.3),
)
