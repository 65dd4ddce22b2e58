//! JavaScript's safe integers: the range of integers a `Number` holds
//! exactly, which every integer the contract stores or parses (lengths,
//! timestamps, client IDs, legacy manifest fields) must stay within.

/// `Number.MAX_SAFE_INTEGER`, 2^53 − 1.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// `Number.isSafeInteger` for a float.
pub fn is_safe_integer(n: f64) -> bool {
    n.is_finite() && n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_integers() {
        for (n, safe) in [
            (0.0, true),
            (-1.0, true),
            (9_007_199_254_740_991.0, true),
            (-9_007_199_254_740_991.0, true),
            (9_007_199_254_740_992.0, false),
            (1.5, false),
            (f64::NAN, false),
            (f64::INFINITY, false),
        ] {
            assert_eq!(is_safe_integer(n), safe, "{n}");
        }
    }
}
