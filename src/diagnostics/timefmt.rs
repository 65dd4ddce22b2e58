//! Timestamps in the shape JavaScript's `Date.prototype.toISOString` produces,
//! which the debug JSON and the trace store promise (`2026-05-28T10:11:12.345Z`).

use time::macros::format_description;
use time::OffsetDateTime;

/// Formats Unix milliseconds as an ISO-8601 UTC string with millisecond precision.
/// Out-of-range inputs clamp to the Unix epoch rather than panic.
pub fn iso_from_ms(ms: u64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    at.format(&fmt).unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
}

#[cfg(test)]
mod tests {
    use super::iso_from_ms;

    #[test]
    fn matches_to_iso_string() {
        assert_eq!(iso_from_ms(0), "1970-01-01T00:00:00.000Z");
        // new Date(1779963072345).toISOString()
        assert_eq!(iso_from_ms(1_779_963_072_345), "2026-05-28T10:11:12.345Z");
    }
}
