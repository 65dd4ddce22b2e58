//! The few JavaScript built-ins whose exact behaviour the contract inherits from
//! the TypeScript server: `String.prototype.trim`, `.length`, `Number(string)`,
//! `decodeURIComponent` and the `URLSearchParams` serializer.
//!
//! They live together so every edge rule that says "trimmed" or "`Number()`
//! must give an integer" means the same thing.

/// JavaScript's `WhiteSpace` plus `LineTerminator`: Rust's `char::is_whitespace`
/// without U+0085 (not JS whitespace) and with U+FEFF (which JS trims).
pub fn is_whitespace(c: char) -> bool {
    (c.is_whitespace() && c != '\u{85}') || c == '\u{FEFF}'
}

/// `String.prototype.trim`.
pub fn trim(s: &str) -> &str {
    s.trim_matches(is_whitespace)
}

/// `String.prototype.length`: UTF-16 code units, which is what the length
/// limits (token ≥ 32, vaultId ≥ 8, branch ≤ 120) count.
pub fn length(s: &str) -> usize {
    s.encode_utf16().count()
}

/// `Number(string)`: `NaN` for anything outside the `StringNumericLiteral`
/// grammar. Covers trimming, the empty string (0), an optional sign,
/// `Infinity`, decimal literals with fraction and exponent, and unsigned
/// `0x`/`0o`/`0b` literals. Radix literals are accumulated in `f64`, so values
/// beyond 2^53 may round differently from V8 (nothing here depends on them).
pub fn number(s: &str) -> f64 {
    let t = trim(s);
    if t.is_empty() {
        return 0.0;
    }
    if let Some(value) = radix_literal(t) {
        return value;
    }
    let unsigned = t.strip_prefix(['+', '-']).unwrap_or(t);
    if unsigned == "Infinity" {
        return if t.starts_with('-') { f64::NEG_INFINITY } else { f64::INFINITY };
    }
    if !is_decimal_literal(unsigned) {
        return f64::NAN;
    }
    // The grammar check above rejects Rust-only spellings ("inf", "nan"); for
    // what remains, Rust's parser rounds exactly as JavaScript's does.
    t.parse().unwrap_or(f64::NAN)
}

/// `0x1F`, `0o17`, `0b101` (no sign, at least one digit); `None` if `t` is not
/// a radix literal at all, `Some(NaN)` if it starts like one but is malformed.
fn radix_literal(t: &str) -> Option<f64> {
    let b = t.as_bytes();
    if b.len() < 2 || b[0] != b'0' {
        return None;
    }
    let radix = match b[1] {
        b'x' | b'X' => 16,
        b'o' | b'O' => 8,
        b'b' | b'B' => 2,
        _ => return None,
    };
    let digits = &t[2..];
    if digits.is_empty() {
        return Some(f64::NAN);
    }
    let mut value = 0.0_f64;
    for c in digits.chars() {
        match c.to_digit(radix) {
            Some(d) => value = value * f64::from(radix) + f64::from(d),
            None => return Some(f64::NAN),
        }
    }
    Some(value)
}

/// `StrUnsignedDecimalLiteral` without `Infinity`: digits with an optional
/// fraction (at least one digit overall) and an optional exponent.
fn is_decimal_literal(s: &str) -> bool {
    let b = s.as_bytes();
    let digits_from = |i: usize| b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    let int_digits = digits_from(0);
    let mut i = int_digits;
    let mut frac_digits = 0;
    if b.get(i) == Some(&b'.') {
        frac_digits = digits_from(i + 1);
        i += 1 + frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_digits = digits_from(i);
        if exp_digits == 0 {
            return false;
        }
        i += exp_digits;
    }
    i == b.len()
}

/// `Number.isInteger(Number(s))`, returning the value when it holds.
pub fn integer(s: &str) -> Option<f64> {
    let n = number(s);
    (n.is_finite() && n.fract() == 0.0).then_some(n)
}

/// `decodeURIComponent`: `None` where JavaScript throws `URIError` (a `%` not
/// followed by two hex digits, or escapes that do not form valid UTF-8).
/// Decoding every escape to bytes and validating the result as UTF-8 is
/// equivalent, because the unescaped parts of a `&str` are already whole
/// characters.
pub fn decode_uri_component(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_owned());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b.get(i + 1..i + 3)?;
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `new URLSearchParams(pairs).toString()`: the
/// `application/x-www-form-urlencoded` serializer (space becomes `+`; ASCII
/// alphanumerics and `*-._` stay; every other UTF-8 byte is `%XX`).
pub fn form_urlencode(pairs: &[(&str, &str)]) -> String {
    fn encode_into(out: &mut String, s: &str) {
        for &byte in s.as_bytes() {
            match byte {
                b' ' => out.push('+'),
                b'*' | b'-' | b'.' | b'_' => out.push(byte as char),
                _ if byte.is_ascii_alphanumeric() => out.push(byte as char),
                _ => out.push_str(&format!("%{byte:02X}")),
            }
        }
    }
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        encode_into(&mut out, name);
        out.push('=');
        encode_into(&mut out, value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trim_matches_js_whitespace() {
        let cases = [
            (" a ", "a"),
            ("\t\n\r\u{0B}\u{0C}a", "a"),
            ("\u{FEFF}a\u{FEFF}", "a"),
            ("\u{A0}\u{3000}a\u{2028}", "a"),
            // NEL is Unicode whitespace but not JavaScript whitespace.
            ("\u{85}a", "\u{85}a"),
            ("", ""),
        ];
        for (input, want) in cases {
            assert_eq!(trim(input), want, "{input:?}");
        }
    }

    #[test]
    fn length_counts_utf16_units() {
        assert_eq!(length("abc"), 3);
        assert_eq!(length("é"), 1);
        assert_eq!(length("😀"), 2);
    }

    #[test]
    fn number_follows_string_to_number() {
        let cases: [(&str, f64); 24] = [
            ("", 0.0),
            ("   ", 0.0),
            ("3", 3.0),
            (" 3 ", 3.0),
            ("3.0", 3.0),
            ("3.", 3.0),
            (".5", 0.5),
            ("-2", -2.0),
            ("+2", 2.0),
            ("1e3", 1000.0),
            ("1E+3", 1000.0),
            ("25e-1", 2.5),
            ("0x10", 16.0),
            ("0X1f", 31.0),
            ("0o17", 15.0),
            ("0b101", 5.0),
            ("007", 7.0),
            ("Infinity", f64::INFINITY),
            ("-Infinity", f64::NEG_INFINITY),
            ("1e400", f64::INFINITY),
            ("\u{FEFF}42\n", 42.0),
            ("-0", -0.0),
            ("0.1", 0.1),
            ("9007199254740993", 9_007_199_254_740_992.0),
        ];
        for (input, want) in cases {
            assert_eq!(number(input), want, "{input:?}");
        }
        let nan = [
            "abc",
            "3a",
            ".",
            "e3",
            "1e",
            "1e+",
            "-0x10",
            "0x",
            "0xg",
            "0b2",
            "inf",
            "infinity",
            "NaN",
            "nan",
            "1_000",
            "1 2",
            "--1",
            "+-1",
            "1..2",
            "Infinityx",
        ];
        for input in nan {
            assert!(number(input).is_nan(), "{input:?}");
        }
    }

    #[test]
    fn integer_requires_finite_whole_numbers() {
        assert_eq!(integer("3.0"), Some(3.0));
        assert_eq!(integer("1e3"), Some(1000.0));
        assert_eq!(integer("3.5"), None);
        assert_eq!(integer("Infinity"), None);
        assert_eq!(integer("x"), None);
    }

    #[test]
    fn decode_uri_component_cases() {
        let cases: [(&str, Option<&str>); 10] = [
            ("plain", Some("plain")),
            ("a%20b", Some("a b")),
            ("a%2Fb", Some("a/b")),
            ("%C3%A9", Some("é")),
            ("é%C3%A9", Some("éé")),
            ("%", None),
            ("%2", None),
            ("%zz", None),
            ("%C3", None),
            ("%FF", None),
        ];
        for (input, want) in cases {
            assert_eq!(decode_uri_component(input).as_deref(), want, "{input:?}");
        }
    }

    #[test]
    fn form_urlencode_like_url_search_params() {
        let got = form_urlencode(&[
            ("action", "setup"),
            ("host", "https://a.example:8787"),
            ("token", "a b+c/d*-._~é"),
        ]);
        assert_eq!(
            got,
            "action=setup&host=https%3A%2F%2Fa.example%3A8787&token=a+b%2Bc%2Fd*-._%7E%C3%A9"
        );
    }
}
