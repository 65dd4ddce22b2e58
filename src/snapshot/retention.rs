//! Snapshot retention (spec 10.7) as a pure function over the listed
//! indexes and the time.
//!
//! Kept: the newest snapshot; every pinned one; every legacy one (no
//! `reason`) unless `prune_legacy`; every one whose reason is not `daily`;
//! everything from the last `keep_days` days; the newest one per rough week
//! for `keep_weekly` weeks beyond that; the newest one per `YYYY-MM` for
//! `keep_monthly` (30-day) months beyond those. Everything else is pruned,
//! and so is every manual snapshot past the newest
//! [`MAX_MANUAL_SNAPSHOTS_KEPT`], whatever the rules above say.

use std::collections::HashSet;

use super::id::civil_from_days;
use super::index::SnapshotIndex;

const MS_PER_DAY: i64 = 86_400_000;

/// How many daily, weekly and monthly snapshots to keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub keep_days: i64,
    pub keep_weekly: i64,
    pub keep_monthly: i64,
}

/// Manual snapshots kept: the newest this many, pinned or not (the
/// TypeScript server kept every one forever, and each is a vault-sized
/// payload). Other pinned snapshots are still always kept.
pub const MAX_MANUAL_SNAPSHOTS_KEPT: usize = 50;

/// 7 days, 4 rough weeks, 12 months: the TypeScript server's defaults.
pub const DEFAULT_RETENTION: RetentionPolicy =
    RetentionPolicy { keep_days: 7, keep_weekly: 4, keep_monthly: 12 };

/// Which of the snapshots (given newest first) to keep and which to prune,
/// as positions into the input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub keep: Vec<usize>,
    pub prune: Vec<usize>,
}

/// Applies `policy` at `now_ms` to `snapshots`, sorted newest first. A
/// snapshot whose `createdAt` does not parse is never kept by the time rules
/// (only by the others). Snapshots sharing an ID share one fate.
pub fn select_retention(
    snapshots: &[SnapshotIndex],
    policy: RetentionPolicy,
    now_ms: i64,
    prune_legacy: bool,
) -> Selection {
    let Some(newest) = snapshots.first() else { return Selection::default() };
    let id = |s: &SnapshotIndex| s.snapshot_id().unwrap_or_default().to_owned();
    let mut keep: HashSet<String> = HashSet::from([id(newest)]);
    // Manual snapshots past the newest MAX_MANUAL_SNAPSHOTS_KEPT go, even pinned.
    let mut manual_seen = 0usize;
    let mut over_manual_cap: HashSet<String> = HashSet::new();
    for s in snapshots {
        let reason = s.reason();
        if reason.and_then(|r| r.as_str()) == Some("manual") {
            manual_seen += 1;
            if manual_seen > MAX_MANUAL_SNAPSHOTS_KEPT {
                over_manual_cap.insert(id(s));
                continue;
            }
        }
        let non_daily = reason.is_some_and(|r| r.as_str() != Some("daily"));
        if s.pinned() || non_daily || (reason.is_none() && !prune_legacy) {
            keep.insert(id(s));
        }
    }

    let days_cutoff = now_ms - policy.keep_days * MS_PER_DAY;
    let weekly_cutoff = now_ms - (policy.keep_days + policy.keep_weekly * 7) * MS_PER_DAY;
    let monthly_cutoff = now_ms
        - (policy.keep_days + policy.keep_weekly * 7 + policy.keep_monthly * 30) * MS_PER_DAY;
    let mut weeks = HashSet::new();
    let mut months = HashSet::new();
    for s in snapshots {
        let Some(at) = s.created_at() else { continue };
        let Some(ts) = parse_iso_ms(at) else { continue };
        if ts >= days_cutoff {
            keep.insert(id(s));
        } else if ts >= weekly_cutoff {
            if weeks.insert(rough_week_key(ts)) {
                keep.insert(id(s));
            }
        } else if ts >= monthly_cutoff && months.insert(at.chars().take(7).collect::<String>()) {
            keep.insert(id(s));
        }
    }

    let mut selection = Selection::default();
    for (i, s) in snapshots.iter().enumerate() {
        // The manual cap wins over the time rules, or a burst stays a week.
        if keep.contains(&id(s)) && !over_manual_cap.contains(&id(s)) {
            selection.keep.push(i);
        } else {
            selection.prune.push(i);
        }
    }
    selection
}

/// The rough week of a UTC time: `<year>-W<nn>` where nn is
/// ceil((ceil((t − Jan 1) / 1 day) + weekday(Jan 1)) / 7). Not an ISO week;
/// the TypeScript server's formula, so buckets match across the upgrade.
pub fn rough_week_key(ms: i64) -> String {
    let (year, _, _) = civil_from_days(ms.div_euclid(MS_PER_DAY));
    let jan1_days = days_from_civil(year, 1, 1);
    let jan1_ms = jan1_days * MS_PER_DAY;
    let weekday = (jan1_days + 4).rem_euclid(7); // 1970-01-01 was a Thursday (4)
    let day_of_year = ceil_div(ms - jan1_ms, MS_PER_DAY);
    let week = ceil_div(day_of_year + weekday, 7);
    format!("{year}-W{week:02}")
}

fn ceil_div(a: i64, b: i64) -> i64 {
    -((-a).div_euclid(b))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix ms of a `toISOString()` timestamp (`YYYY-MM-DDTHH:MM:SS.sssZ`, the
/// fraction optional); `None` for anything else.
pub fn parse_iso_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(range)?;
        part.bytes().all(|c| c.is_ascii_digit()).then(|| part.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let millis = match &s[19..] {
        "Z" => 0,
        rest if rest.len() == 5 && rest.starts_with('.') && rest.ends_with('Z') => num(20..23)?,
        _ => return None,
    };
    let in_range = (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !in_range {
        return None;
    }
    let days = days_from_civil(year, month as u32, day as u32);
    Some(((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::timefmt::iso_from_ms;
    use serde_json::{json, Value};

    const NOW: i64 = 1_779_963_072_345; // 2026-05-28T10:11:12.345Z

    fn snap(id: &str, days_ago: f64, reason: Option<&str>, pinned: bool) -> SnapshotIndex {
        let at = NOW - (days_ago * MS_PER_DAY as f64) as i64;
        let mut v =
            json!({"snapshotId": id, "createdAt": iso_from_ms(at as u64), "pinned": pinned});
        if let Some(r) = reason {
            v["reason"] = Value::from(r);
        }
        SnapshotIndex(v.as_object().unwrap().clone())
    }

    fn kept(snaps: &[SnapshotIndex], prune_legacy: bool) -> Vec<String> {
        let sel = select_retention(snaps, DEFAULT_RETENTION, NOW, prune_legacy);
        sel.keep.iter().map(|&i| snaps[i].snapshot_id().unwrap().to_owned()).collect()
    }

    #[test]
    fn every_rule_in_one_table() {
        let d = Some("daily");
        let snaps = vec![
            snap("newest", 0.1, d, false),
            snap("day-3", 3.0, d, false),
            snap("day-6.9", 6.9, d, false),
            // Older than 7 days, within 35: the newest per rough week.
            snap("week-a1", 8.0, d, false),
            snap("week-a2", 8.2, d, false),
            snap("week-b", 20.0, d, false),
            // Within 35..395 days: the newest per month.
            snap("month-1", 40.0, d, false),
            snap("month-1b", 41.0, d, false),
            snap("month-2", 200.0, d, false),
            // Past every window.
            snap("ancient", 500.0, d, false),
            snap("ancient-pinned", 501.0, d, true),
            snap("ancient-manual", 502.0, Some("manual"), false),
            snap("ancient-legacy", 503.0, None, false),
            snap("ancient-upgrade", 504.0, Some("pre-upgrade"), false),
        ];
        let keep = kept(&snaps, false);
        let expect = [
            "newest",
            "day-3",
            "day-6.9",
            "week-b",
            "month-1",
            "month-2",
            "ancient-pinned",
            "ancient-manual",
            "ancient-legacy",
            "ancient-upgrade",
        ];
        for id in expect {
            assert!(keep.contains(&id.to_owned()), "{id} kept: {keep:?}");
        }
        // week-a1 and week-a2 fall on the same day, so in one rough week:
        // only the newer survives.
        assert!(keep.contains(&"week-a1".to_owned()));
        assert!(!keep.contains(&"week-a2".to_owned()));
        assert!(!keep.contains(&"month-1b".to_owned()), "older snapshot of the same month");
        assert!(!keep.contains(&"ancient".to_owned()));
        // pruneLegacy drops the legacy one, nothing else.
        let keep = kept(&snaps, true);
        assert!(!keep.contains(&"ancient-legacy".to_owned()));
        assert!(keep.contains(&"ancient-pinned".to_owned()));
    }

    #[test]
    fn newest_is_kept_even_when_old_and_an_empty_list_prunes_nothing() {
        let snaps = vec![
            snap("old", 900.0, Some("daily"), false),
            snap("older", 901.0, Some("daily"), false),
        ];
        let sel = select_retention(&snaps, DEFAULT_RETENTION, NOW, true);
        assert_eq!(sel, Selection { keep: vec![0], prune: vec![1] });
        assert_eq!(select_retention(&[], DEFAULT_RETENTION, NOW, false), Selection::default());
    }

    #[test]
    fn unparseable_times_are_kept_only_by_the_other_rules() {
        let mut bad = snap("bad", 0.0, Some("daily"), false);
        bad.0.insert("createdAt".into(), Value::from("yesterday"));
        let snaps = vec![snap("newest", 0.0, Some("daily"), false), bad];
        assert_eq!(select_retention(&snaps, DEFAULT_RETENTION, NOW, false).prune, vec![1]);
    }

    #[test]
    fn rough_weeks_follow_the_formula_across_a_year_boundary() {
        // Values computed with the TypeScript roughWeekKey.
        let at = |s: &str| parse_iso_ms(s).unwrap();
        let cases = [
            ("2025-12-28T12:00:00.000Z", "2025-W53"),
            ("2025-12-31T23:59:59.999Z", "2025-W53"),
            ("2026-01-01T00:00:00.000Z", "2026-W01"),
            ("2026-01-01T00:00:00.001Z", "2026-W01"),
            ("2026-01-03T12:00:00.000Z", "2026-W01"),
            ("2026-01-04T12:00:00.000Z", "2026-W02"),
            ("2027-01-01T00:00:00.000Z", "2027-W01"),
            ("2028-01-01T00:00:00.000Z", "2028-W01"),
            ("2023-01-01T00:00:00.000Z", "2023-W00"),
            ("2023-01-01T00:00:01.000Z", "2023-W01"),
        ];
        for (iso, week) in cases {
            assert_eq!(rough_week_key(at(iso)), week, "{iso}");
        }
    }

    #[test]
    fn iso_timestamps_parse_like_date() {
        assert_eq!(parse_iso_ms("2026-05-28T10:11:12.345Z"), Some(NOW));
        assert_eq!(parse_iso_ms("1970-01-01T00:00:00Z"), Some(0));
        for bad in [
            "",
            "2026-05-28",
            "2026-13-01T00:00:00.000Z",
            "2026-05-28T24:00:00.000Z",
            "2026-05-28T10:11:12.345",
            "x026-05-28T10:11:12.345Z",
            "2026-05-28T10:11:12.3Z",
        ] {
            assert_eq!(parse_iso_ms(bad), None, "{bad:?}");
        }
    }
}
