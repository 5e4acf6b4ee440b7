//! Which members of the record, and of its `httpRequest`, the document reads: found in
//! one pass over each object.

use crate::tape::Tape;

/// The members of the record that the document is built from (`record.get(...)`).
#[derive(Default)]
pub struct RecordFields {
    pub timestamp: Option<usize>,
    pub action: Option<usize>,
    pub request: Option<usize>,
    pub format_version: Option<usize>,
    pub webacl: Option<usize>,
    pub term_id: Option<usize>,
    pub term_type: Option<usize>,
    pub term_match: Option<usize>,
    pub non_terminating: Option<usize>,
    pub groups: Option<usize>,
    pub labels: Option<usize>,
    pub rate: Option<usize>,
    pub source_name: Option<usize>,
    pub source_id: Option<usize>,
    pub tenant: Option<usize>,
    pub code_sent: Option<usize>,
    pub inserted: Option<usize>,
    pub captcha: Option<usize>,
    pub challenge: Option<usize>,
    pub oversize: Option<usize>,
    pub asn: Option<usize>,
    pub ja3: Option<usize>,
    pub ja4: Option<usize>,
    pub body_size: Option<usize>,
    pub body_inspected: Option<usize>,
}

/// The members of `httpRequest` that the document is built from.
#[derive(Default)]
pub struct RequestFields {
    pub client_ip: Option<usize>,
    pub country: Option<usize>,
    pub headers: Option<usize>,
    pub uri: Option<usize>,
    pub args: Option<usize>,
    pub version: Option<usize>,
    pub method: Option<usize>,
    pub request_id: Option<usize>,
    pub fragment: Option<usize>,
    pub scheme: Option<usize>,
    pub host: Option<usize>,
}

impl RecordFields {
    /// The fields of the record (node 0).
    pub fn scan(t: &Tape<'_>) -> Self {
        let mut fields = Self::default();
        for (k, v) in t.members(0) {
            let slot = match k.s {
                "timestamp" => &mut fields.timestamp,
                "action" => &mut fields.action,
                "httpRequest" => &mut fields.request,
                "formatVersion" => &mut fields.format_version,
                "webaclId" => &mut fields.webacl,
                "terminatingRuleId" => &mut fields.term_id,
                "terminatingRuleType" => &mut fields.term_type,
                "terminatingRuleMatchDetails" => &mut fields.term_match,
                "nonTerminatingMatchingRules" => &mut fields.non_terminating,
                "ruleGroupList" => &mut fields.groups,
                "labels" => &mut fields.labels,
                "rateBasedRuleList" => &mut fields.rate,
                "httpSourceName" => &mut fields.source_name,
                "httpSourceId" => &mut fields.source_id,
                "cfDistributionTenantId" => &mut fields.tenant,
                "responseCodeSent" => &mut fields.code_sent,
                "requestHeadersInserted" => &mut fields.inserted,
                "captchaResponse" => &mut fields.captcha,
                "challengeResponse" => &mut fields.challenge,
                "oversizeFields" => &mut fields.oversize,
                "clientAsn" => &mut fields.asn,
                "ja3Fingerprint" => &mut fields.ja3,
                "ja4Fingerprint" => &mut fields.ja4,
                "requestBodySize" => &mut fields.body_size,
                "requestBodySizeInspectedByWAF" => &mut fields.body_inspected,
                _ => continue,
            };
            *slot = Some(v);
        }
        fields
    }
}

impl RequestFields {
    /// The fields of the `httpRequest` object `request`.
    pub fn scan(t: &Tape<'_>, request: usize) -> Self {
        let mut fields = Self::default();
        for (k, v) in t.members(request) {
            let slot = match k.s {
                "clientIp" => &mut fields.client_ip,
                "country" => &mut fields.country,
                "headers" => &mut fields.headers,
                "uri" => &mut fields.uri,
                "args" => &mut fields.args,
                "httpVersion" => &mut fields.version,
                "httpMethod" => &mut fields.method,
                "requestId" => &mut fields.request_id,
                "fragment" => &mut fields.fragment,
                "scheme" => &mut fields.scheme,
                "host" => &mut fields.host,
                _ => continue,
            };
            *slot = Some(v);
        }
        fields
    }
}
