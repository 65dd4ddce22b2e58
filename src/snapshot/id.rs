//! Snapshot IDs and the UTC day they encode (spec 7.4).
//!
//! An ID is `Date.now()` in base 36, `-`, and 8 random lowercase hex
//! characters. The day directory of a snapshot is recovered from its ID alone,
//! so fetching one costs two reads and no listing; an ID that does not parse
//! is "not found" without touching the bucket.

use crate::hex::lower_hex;
use crate::safe_int::MAX_SAFE_INTEGER;

/// The largest time value a JavaScript `Date` holds (±8.64e15 ms).
const JS_DATE_MAX_MS: u64 = 8_640_000_000_000_000;
const MS_PER_DAY: u64 = 86_400_000;

/// A new snapshot ID for the time `now_ms`, with 4 random bytes.
pub fn new_snapshot_id(now_ms: u64, random: [u8; 4]) -> String {
    format!("{}-{}", base36(now_ms), lower_hex(&random))
}

/// The UTC day (`YYYY-MM-DD`) encoded in a snapshot ID, or `None` when the ID
/// is not of the shape `^([0-9a-z]+)-([0-9a-f]{8,})$`, or its time part is
/// zero, not a safe integer, or outside the range of a `Date`.
pub fn day_from_snapshot_id(id: &str) -> Option<String> {
    let (time, random) = id.split_once('-')?;
    let time_ok =
        !time.is_empty() && time.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    let random_ok = random.len() >= 8
        && random.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !time_ok || !random_ok {
        return None;
    }
    let mut ms: u64 = 0;
    for b in time.bytes() {
        let digit = if b.is_ascii_digit() { b - b'0' } else { b - b'a' + 10 };
        ms = ms.checked_mul(36)?.checked_add(u64::from(digit))?;
        if ms > MAX_SAFE_INTEGER {
            return None;
        }
    }
    if ms == 0 || ms > JS_DATE_MAX_MS {
        return None;
    }
    Some(utc_day(ms))
}

/// `new Date(ms).toISOString().slice(0, 10)`: `YYYY-MM-DD` for years up to
/// 9999; later years use `toISOString`'s `+YYYYYY` form, cut at 10 characters
/// as the TypeScript server cut them.
pub fn utc_day(ms: u64) -> String {
    let (year, month, day) = civil_from_days((ms / MS_PER_DAY) as i64);
    let full = if year <= 9999 {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!("+{year:06}-{month:02}-{day:02}")
    };
    full.chars().take(10).collect()
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after
/// Howard Hinnant's `civil_from_days`.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `n.toString(36)`.
fn base36(mut n: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_to_their_day() {
        // (1779963072345).toString(36) in JavaScript
        let id = new_snapshot_id(1_779_963_072_345, [0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(id, "mppc20k9-deadbeef");
        assert_eq!(day_from_snapshot_id(&id).as_deref(), Some("2026-05-28"));
        assert_eq!(day_from_snapshot_id("1-00000000").as_deref(), Some("1970-01-01"));
        // Longer random parts are accepted, as the pattern says `{8,}`.
        assert_eq!(
            day_from_snapshot_id("mppc20k9-0123456789abcdef").as_deref(),
            Some("2026-05-28")
        );
    }

    #[test]
    fn invalid_ids_have_no_day() {
        for bad in [
            "",
            "-",
            "maybe",
            "prune",
            "status",
            "mppc20k9",
            "mppc20k9-",
            "-deadbeef",
            "mppc20k9-deadbee",  // 7 hex
            "mppc20k9-DEADBEEF", // uppercase hex
            "MPOYJUI9-deadbeef", // uppercase time
            "mpoy_ui9-deadbeef",
            "mppc20k9-deadbeeg",
            "mppc20k9-dead-beef",
            "mppc20k9 -deadbeef",
            "0-deadbeef",                            // zero
            "000-deadbeef",                          // zero
            "2gosa7pa2gw-deadbeef",                  // 2^53: not a safe integer
            "zzzzzzzzzzzzzzzzzzzzzzzzzzzz-deadbeef", // overflows u64
            "2d2mh7dt6o1-deadbeef",                  // 8.64e15 + 1 ms: beyond Date's range
        ] {
            assert_eq!(day_from_snapshot_id(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn edges_of_the_date_range() {
        // 2^53 - 1 is safe but beyond Date; 8.64e15 itself is the last valid Date.
        assert_eq!(day_from_snapshot_id(&format!("{}-00000000", base36(MAX_SAFE_INTEGER))), None);
        assert_eq!(
            day_from_snapshot_id(&format!("{}-00000000", base36(JS_DATE_MAX_MS))).as_deref(),
            Some("+275760-09")
        );
        assert_eq!(utc_day(253_402_300_799_999), "9999-12-31");
        assert_eq!(utc_day(253_402_300_800_000), "+010000-01");
    }

    #[test]
    fn days_across_leap_years_and_year_ends() {
        let cases = [
            (0, "1970-01-01"),
            (951_782_400_000, "2000-02-29"),
            (1_735_689_599_999, "2024-12-31"),
            (1_735_689_600_000, "2025-01-01"),
            (1_709_164_800_000, "2024-02-29"),
        ];
        for (ms, day) in cases {
            assert_eq!(utc_day(ms), day, "{ms}");
        }
    }
}
