//! The document's fields about the client and its request: `source`, `url`,
//! `user_agent`, `http` and `tls`.

use crate::fields::{RecordFields, RequestFields};
use crate::headers::Headers;
use crate::tape::{as_int, as_text, not_placeholder, Tape};
use crate::text::{as_int_str, py_strip};
use crate::write::{enclosed, int, key, lower_string, string, Text};
use crate::{Decline, R};

/// `,"source":{...}`: the client's address (`ip`, already normalised), AS number and
/// country.
pub fn write_source(
    t: &Tape<'_>,
    out: &mut Vec<u8>,
    top: &RecordFields,
    req: &RequestFields,
    ip: &str,
) -> R<()> {
    out.extend_from_slice(b",\"source\":{\"ip\":");
    string(out, Text::clean(ip));
    if let Some(asn) = as_int(t.vo(top.asn))? {
        if asn >= 0 {
            out.extend_from_slice(b",\"as\":{\"number\":");
            int(out, asn);
            out.push(b'}');
        }
    }
    if let Some(country) = not_placeholder(t.vo(req.country)) {
        out.extend_from_slice(b",\"geo\":{\"country_iso_code\":");
        string(out, country);
        out.push(b'}');
    }
    out.push(b'}');
    Ok(())
}

/// `_split_host(host)`: (domain before lower-casing, port). ASCII only.
fn split_host(host: &str) -> R<(&str, Option<i64>)> {
    if !host.is_ascii() {
        return Err(Decline);
    }
    let host = py_strip(host);
    if let Some(rest) = host.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            let after = &rest[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(port) => as_int_str(port)?,
                None => None,
            };
            return Ok((&rest[..end], port));
        }
    }
    let mut parts = host.split(':');
    if let (Some(name), Some(port), None) = (parts.next(), parts.next(), parts.next()) {
        let port = as_int_str(port)?.filter(|p| (0..=65535).contains(p));
        return Ok((name, port));
    }
    Ok((host, None))
}

/// `,"url":{...}`: domain and port of the request's `host` (else of its Host header),
/// path, query, fragment, scheme.
pub fn write_url(
    t: &Tape<'_>,
    out: &mut Vec<u8>,
    req: &RequestFields,
    headers: &Headers<'_>,
) -> R<()> {
    enclosed(out, b",\"url\":{", b'}', |out| {
        let mut first = true;
        let host = match as_text(t.vo(req.host)) {
            Some(host) => Some((host.s, host.clean)),
            None => headers.first("host"),
        };
        if let Some((host, clean)) = host.filter(|(h, _)| !h.is_empty()) {
            let (domain, port) = split_host(host)?;
            if !domain.is_empty() {
                key(out, &mut first, "domain");
                lower_string(out, Text { s: domain, clean });
            }
            if let Some(port) = port {
                key(out, &mut first, "port");
                int(out, port);
            }
        }
        for (at, name) in [
            (req.uri, "path"),
            (req.args, "query"),
            (req.fragment, "fragment"),
            (req.scheme, "scheme"),
        ] {
            if let Some(text) = as_text(t.vo(at)) {
                key(out, &mut first, name);
                string(out, text);
            }
        }
        Ok(())
    })?;
    Ok(())
}

/// `,"user_agent":{"original":...}` of a non-empty User-Agent header.
pub fn write_user_agent(out: &mut Vec<u8>, headers: &Headers<'_>) {
    if headers.is_empty() {
        return;
    }
    if let Some((agent, clean)) = headers.first("user-agent") {
        if !agent.is_empty() {
            out.extend_from_slice(b",\"user_agent\":{\"original\":");
            string(out, Text { s: agent, clean });
            out.push(b'}');
        }
    }
}

/// `,"http":{"request":{...},"version":...}`.
pub fn write_http(
    t: &Tape<'_>,
    out: &mut Vec<u8>,
    top: &RecordFields,
    req: &RequestFields,
    headers: &Headers<'_>,
) -> R<()> {
    let version = as_text(t.vo(req.version));
    enclosed(out, b",\"http\":{", b'}', |out| {
        let request = enclosed(out, b"\"request\":{", b'}', |out| {
            write_http_request(t, out, top, req, headers)
        })?;
        if let Some(version) = version {
            if request {
                out.push(b',');
            }
            out.extend_from_slice(b"\"version\":");
            string(out, version);
        }
        Ok(())
    })?;
    Ok(())
}

/// The members of `http.request`: method, id, headers, referrer, body sizes.
fn write_http_request(
    t: &Tape<'_>,
    out: &mut Vec<u8>,
    top: &RecordFields,
    req: &RequestFields,
    headers: &Headers<'_>,
) -> R<()> {
    let mut first = true;
    if let Some(method) = as_text(t.vo(req.method)) {
        key(out, &mut first, "method");
        string(out, method);
    }
    if let Some(id) = not_placeholder(t.vo(req.request_id)) {
        key(out, &mut first, "id");
        string(out, id);
    }
    if !headers.is_empty() {
        key(out, &mut first, "headers");
        headers.write(out);
        if let Some((referrer, clean)) = headers.first("referer") {
            if !referrer.is_empty() {
                key(out, &mut first, "referrer");
                string(out, Text { s: referrer, clean });
            }
        }
    }
    let size = as_int(t.vo(top.body_size))?.filter(|n| *n >= 0);
    let inspected = as_int(t.vo(top.body_inspected))?.filter(|n| *n >= 0);
    if size.is_some() || inspected.is_some() {
        key(out, &mut first, "body");
        out.push(b'{');
        let mut first_field = true;
        if let Some(size) = size {
            key(out, &mut first_field, "bytes");
            int(out, size);
        }
        if let Some(inspected) = inspected {
            key(out, &mut first_field, "inspected_bytes");
            int(out, inspected);
        }
        out.push(b'}');
    }
    Ok(())
}

/// `,"tls":{"client":{...}}` of the JA3 / JA4 fingerprints.
pub fn write_tls(t: &Tape<'_>, out: &mut Vec<u8>, top: &RecordFields) {
    let ja3 = as_text(t.vo(top.ja3));
    let ja4 = as_text(t.vo(top.ja4));
    if ja3.is_none() && ja4.is_none() {
        return;
    }
    out.extend_from_slice(b",\"tls\":{\"client\":{");
    let mut first = true;
    if let Some(ja3) = ja3 {
        key(out, &mut first, "ja3");
        string(out, ja3);
    }
    if let Some(ja4) = ja4 {
        key(out, &mut first, "ja4");
        string(out, ja4);
    }
    out.extend_from_slice(b"}}");
}
