//! Reading one whole-number operator setting (a Worker variable): the value
//! within its range, or the nearest allowed value (the default, when it does
//! not parse) and a warning for the log. Shared by the room's limits and the
//! commit window.

/// `raw` (the variable `name`, `None` when unset) as a number in
/// `min..=max`; `default` when unset or unparsable. The warning says what
/// was replaced and by what.
pub fn read_whole_number(
    name: &str,
    raw: Option<&str>,
    default: u64,
    min: u64,
    max: u64,
) -> (u64, Option<String>) {
    let Some(raw) = raw else { return (default, None) };
    match raw.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => (n, None),
        Ok(n) => {
            let clamped = n.clamp(min, max);
            (clamped, Some(format!("{name}={n} is outside {min}..={max}; using {clamped}")))
        }
        Err(_) => (default, Some(format!("{name} is not a whole number; using {default}"))),
    }
}
