//! The snapshot routes' inputs (spec 7.4): the list `limit`, the prune body
//! with its legacy confirmation, and the `device` of create requests.

use serde_json::Value;

use super::http::{parse_json_body, EdgeError};

/// The list size when `limit` is absent or unusable.
pub const DEFAULT_LIST_LIMIT: usize = 50;
/// The largest list size a request may ask for.
pub const MAX_LIST_LIMIT: usize = 200;
/// The confirmation `pruneLegacy` needs.
pub const LEGACY_PRUNE_CONFIRMATION: &str = "DELETE_LEGACY_SNAPSHOTS";

/// `?limit=`: 50 when absent or empty; otherwise `parseInt(raw, 10)`, with 0
/// or no digits giving 50, clamped to 1–200.
pub fn list_limit(raw: Option<&str>) -> usize {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else { return DEFAULT_LIST_LIMIT };
    match parse_int_prefix(raw) {
        None | Some(0) => DEFAULT_LIST_LIMIT,
        Some(n) if n < 1 => 1,
        Some(n) => (n as u64).min(MAX_LIST_LIMIT as u64) as usize,
    }
}

/// JavaScript `parseInt(s, 10)` for the range that matters here: leading
/// whitespace, an optional sign, then the longest run of digits (saturating).
fn parse_int_prefix(s: &str) -> Option<i64> {
    let s = super::js::trim(s);
    let (negative, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let run: &str = &digits[..digits.bytes().take_while(u8::is_ascii_digit).count()];
    if run.is_empty() {
        return None;
    }
    let magnitude =
        run.bytes().fold(0i64, |acc, d| acc.saturating_mul(10).saturating_add(i64::from(d - b'0')));
    Some(if negative { -magnitude } else { magnitude })
}

/// A body that is not JSON counts as `{}` on the snapshot routes.
fn lenient_body(body: &[u8]) -> Value {
    parse_json_body(body).unwrap_or(Value::Null)
}

/// The longest `device` kept from a snapshot request: it is stored in the
/// snapshot's index, the latest pointer and the trace (the TypeScript server
/// kept it whole). The plugin sends its device name.
pub const MAX_SNAPSHOT_DEVICE_CHARS: usize = 64;

/// The `device` of a create request's body, when it is a string, cut to
/// [`MAX_SNAPSHOT_DEVICE_CHARS`] characters.
pub fn device_of(body: &[u8]) -> Option<String> {
    let body = lenient_body(body);
    let device = body.get("device").and_then(Value::as_str)?;
    Some(device.chars().take(MAX_SNAPSHOT_DEVICE_CHARS).collect())
}

/// `POST /snapshots/prune`'s body: `Ok(prune_legacy)`, or the 400 when
/// `pruneLegacy` is true without the confirmation.
pub fn prune_request(body: &[u8]) -> Result<bool, EdgeError> {
    let body = lenient_body(body);
    let asked = body.get("pruneLegacy") == Some(&Value::Bool(true));
    let confirmed =
        body.get("confirmLegacyPrune").and_then(Value::as_str) == Some(LEGACY_PRUNE_CONFIRMATION);
    match (asked, confirmed) {
        (true, false) => Err(EdgeError::LegacyPruneUnconfirmed),
        (asked, _) => Ok(asked),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_parsing_and_clamping() {
        let cases = [
            (None, 50),
            (Some(""), 50),
            (Some("0"), 50),
            (Some("abc"), 50),
            (Some("10"), 10),
            (Some(" 12"), 12),
            (Some("3.7"), 3),
            (Some("1e3"), 1),
            (Some("7px"), 7),
            (Some("-5"), 1),
            (Some("+9"), 9),
            (Some("1"), 1),
            (Some("200"), 200),
            (Some("201"), 200),
            (Some("99999999999999999999999"), 200),
            (Some("-0"), 50),
        ];
        for (raw, want) in cases {
            assert_eq!(list_limit(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn prune_bodies() {
        assert_eq!(prune_request(b""), Ok(false));
        assert_eq!(prune_request(b"not json"), Ok(false));
        assert_eq!(prune_request(br#"{"pruneLegacy":"true"}"#), Ok(false));
        assert_eq!(
            prune_request(br#"{"pruneLegacy":true}"#),
            Err(EdgeError::LegacyPruneUnconfirmed)
        );
        assert_eq!(
            prune_request(br#"{"pruneLegacy":true,"confirmLegacyPrune":"yes"}"#),
            Err(EdgeError::LegacyPruneUnconfirmed)
        );
        assert_eq!(
            prune_request(
                br#"{"pruneLegacy":true,"confirmLegacyPrune":"DELETE_LEGACY_SNAPSHOTS"}"#
            ),
            Ok(true)
        );
        assert_eq!(
            prune_request(br#"{"confirmLegacyPrune":"DELETE_LEGACY_SNAPSHOTS"}"#),
            Ok(false)
        );
    }

    #[test]
    fn devices() {
        assert_eq!(device_of(br#"{"device":"phone"}"#).as_deref(), Some("phone"));
        assert_eq!(device_of(br#"{"device":5}"#), None);
        assert_eq!(device_of(b"{"), None);
        assert_eq!(device_of(b""), None);
    }
}
