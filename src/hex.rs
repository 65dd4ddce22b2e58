//! Lowercase hex and SHA-256 digests in the one spelling the contract uses
//! everywhere (token hashes, blob keys, snapshot hashes, legacy manifests).

use sha2::{Digest, Sha256};

/// Lowercase hex of some bytes.
pub fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// Lowercase hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    lower_hex(&Sha256::digest(bytes))
}

/// Whether `s` is exactly 64 lowercase hex characters: a SHA-256 as the
/// contract writes it (blob hashes, spec 7.3).
pub fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The 32 bytes of a lowercase SHA-256 hex string, if it is one.
pub fn sha256_from_hex(s: &str) -> Option<[u8; 32]> {
    if !is_sha256_hex(s) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in s.as_bytes().chunks_exact(2).enumerate() {
        let nibble = |c: u8| if c.is_ascii_digit() { c - b'0' } else { c - b'a' + 10 };
        out[i] = (nibble(pair[0]) << 4) | nibble(pair[1]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_and_digest() {
        assert_eq!(lower_hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn sha256_hex_validation() {
        let good = sha256_hex(b"x");
        assert!(is_sha256_hex(&good));
        assert_eq!(sha256_from_hex(&good).map(|b| lower_hex(&b)), Some(good.clone()));
        for bad in [
            String::new(),
            "exists".to_owned(),
            good.to_uppercase(),
            good[..63].to_owned(),
            format!("{good}0"),
            format!("{}g", &good[..63]),
            format!("{} ", &good[..63]),
        ] {
            assert!(!is_sha256_hex(&bad), "{bad:?}");
            assert_eq!(sha256_from_hex(&bad), None);
        }
    }
}
