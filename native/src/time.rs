//! `@timestamp`: epoch milliseconds as ISO 8601 text.

/// The last millisecond `iso_timestamp` takes: 9999-12-31T23:59:59.999Z.
pub const MAX_TIMESTAMP_MS: i64 = 253_402_300_799_999;

/// `iso_timestamp(ms)`: `YYYY-MM-DDTHH:MM:SS.mmmZ` (0 <= ms <= 9999-12-31).
pub fn iso_timestamp(out: &mut Vec<u8>, ms: i64) {
    let seconds = ms / 1000;
    let millis = ms % 1000;
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    // Howard Hinnant's days -> civil (days >= 0 here)
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let digits = |out: &mut Vec<u8>, value: i64, width: u32| {
        for p in (0..width).rev() {
            out.push(b'0' + ((value / 10i64.pow(p)) % 10) as u8);
        }
    };
    digits(out, year, 4);
    out.push(b'-');
    digits(out, month, 2);
    out.push(b'-');
    digits(out, day, 2);
    out.push(b'T');
    digits(out, rest / 3600, 2);
    out.push(b':');
    digits(out, rest % 3600 / 60, 2);
    out.push(b':');
    digits(out, rest % 60, 2);
    out.push(b'.');
    digits(out, millis, 3);
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        let mut out = Vec::new();
        iso_timestamp(&mut out, 0);
        assert_eq!(out, b"1970-01-01T00:00:00.000Z");
        out.clear();
        iso_timestamp(&mut out, 1_717_200_000_123);
        assert_eq!(out, b"2024-06-01T00:00:00.123Z");
        out.clear();
        iso_timestamp(&mut out, MAX_TIMESTAMP_MS);
        assert_eq!(out, b"9999-12-31T23:59:59.999Z");
    }
}
