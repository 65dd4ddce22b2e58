//! The ticket signing key, derived from the server's auth secret (the env
//! `SYNC_TOKEN`, or the stored claim hash) instead of being it.
//!
//! A ticket is public (it sits in a socket URL), and its HMAC can be checked
//! against guesses offline. With the secret itself as the key, each guess of
//! a weak `SYNC_TOKEN` costs one HMAC; through PBKDF2-HMAC-SHA256 with
//! [`TICKET_KEY_ROUNDS`] rounds it costs that many, while the server pays
//! the derivation once per isolate ([`ticket_key`] keeps the last one). The
//! salt is fixed so every isolate derives the same key; the domain string
//! also keeps the key apart from any other use of the same secret. A strong
//! token (the claim page makes 256-bit ones) needs none of this; a short
//! env token is warned about (see [`weak_token_warning`]).

use std::cell::RefCell;

use sha2::{Digest, Sha256};

/// PBKDF2 rounds: 0.55 ms natively (x86-64, release); wasm is slower by a small
/// factor (not measured). Paid once per isolate.
pub const TICKET_KEY_ROUNDS: u32 = 4096;
/// The fixed salt, which also names what the key is for.
pub const TICKET_KEY_SALT: &[u8] = b"yaos-server ticket key v1";
/// An env token shorter than this (characters, after trimming) is weak: the
/// claim flow's minimum, and what the home page and the log warn about.
pub const MIN_STRONG_TOKEN_CHARS: usize = 32;

thread_local! {
    /// The last derivation: SHA-256 of the secret, and the key.
    static LAST: RefCell<Option<([u8; 32], [u8; 32])>> = const { RefCell::new(None) };
}

/// The HMAC key for tickets signed under `secret`.
pub fn ticket_key(secret: &[u8]) -> [u8; 32] {
    let digest: [u8; 32] = Sha256::digest(secret).into();
    if let Some(key) = LAST.with(|last| last.borrow().filter(|(d, _)| *d == digest).map(|(_, k)| k))
    {
        return key;
    }
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(secret, TICKET_KEY_SALT, TICKET_KEY_ROUNDS, &mut key);
    LAST.with(|last| *last.borrow_mut() = Some((digest, key)));
    key
}

/// The home page's warning for a weak env token, or `None`. The page is
/// public, so it says only that the token is under the minimum, never its
/// length (which would tell a guesser how many characters to try).
pub fn weak_token_page_warning(trimmed_token: &str) -> Option<String> {
    (trimmed_token.chars().count() < MIN_STRONG_TOKEN_CHARS).then(|| {
        format!(
            "SYNC_TOKEN is shorter than {MIN_STRONG_TOKEN_CHARS} characters; use at least \
             {MIN_STRONG_TOKEN_CHARS} random ones (for example `openssl rand -hex 32`): a short \
             token can be guessed offline from one leaked socket ticket; the log says more"
        )
    })
}

/// The log's warning for a weak env token, or `None`: its length, for the
/// operator. Never contains the token; never shown on a public page.
pub fn weak_token_warning(trimmed_token: &str) -> Option<String> {
    let chars = trimmed_token.chars().count();
    (chars < MIN_STRONG_TOKEN_CHARS).then(|| {
        format!(
            "SYNC_TOKEN has {chars} characters; use at least {MIN_STRONG_TOKEN_CHARS} random ones \
             (for example `openssl rand -hex 32`): a short token can be guessed offline from one \
             leaked socket ticket"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_derived_stable_and_not_the_secret() {
        let a = ticket_key(b"secret-one");
        assert_eq!(a, ticket_key(b"secret-one"), "the memo returns the same key");
        let b = ticket_key(b"secret-two");
        assert_ne!(a, b);
        assert_eq!(a, ticket_key(b"secret-one"), "recomputed after another secret");
        assert_ne!(&a[..10], b"secret-one");
        // PBKDF2-HMAC-SHA256 itself, against an independent computation of
        // one round (RFC 8018: U1 = HMAC(P, S || INT(1))).
        let mut one_round = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(b"p", b"s", 1, &mut one_round);
        use hmac::{Hmac, Mac};
        let mut mac = <Hmac<Sha256>>::new_from_slice(b"p").unwrap();
        mac.update(b"s\0\0\0\x01");
        assert_eq!(one_round.as_slice(), mac.finalize().into_bytes().as_slice());
    }

    #[test]
    fn short_env_tokens_are_warned_about_without_showing_them() {
        let warning = weak_token_warning("hunter2").expect("a warning");
        assert!(warning.contains("7 characters") && !warning.contains("hunter2"));
        assert!(weak_token_warning(&"x".repeat(MIN_STRONG_TOKEN_CHARS)).is_none());
    }

    #[test]
    fn the_page_warning_never_states_the_length() {
        for token in ["hunter2", "hunter2-is-weak", &"y".repeat(MIN_STRONG_TOKEN_CHARS - 1)] {
            let warning = weak_token_page_warning(token).expect("a warning");
            let len = token.chars().count().to_string();
            assert!(!warning.contains(&format!("{len} ")), "{warning}");
            assert!(!warning.contains(token));
        }
        assert!(weak_token_page_warning(&"x".repeat(MIN_STRONG_TOKEN_CHARS)).is_none());
    }
}
