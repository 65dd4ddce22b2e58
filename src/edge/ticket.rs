//! Short-lived WebSocket tickets (spec 5.5).
//!
//! Browsers cannot set headers on a WebSocket handshake, so the plugin trades
//! its long-lived token (sent in an `Authorization` header) for a ticket it
//! can put in the socket URL. A ticket is
//! `B64URL(payload JSON) "." B64URL(HMAC-SHA256(key, encoded payload))`; the
//! key comes from the server's auth secret, so changing it revokes every
//! ticket. Nonces are not tracked: a ticket is reusable until it expires.
//!
//! This server signs with a key derived from the secret
//! ([`super::ticket_key`]); the TypeScript server signed with the secret
//! itself. [`verify_either`] accepts both, ours first, so devices holding a
//! ticket from before an upgrade reconnect instead of being locked out.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use thiserror::Error;

use super::js;

/// The only payload version.
pub const TICKET_VERSION: u64 = 1;
/// The payload's `aud`.
pub const TICKET_AUDIENCE: &str = "yaos-ws";
/// Lifetime when `YAOS_TICKET_TTL_MS` is unset, empty or not a finite number.
pub const DEFAULT_TTL_MS: u64 = 300_000;
/// Bounds an override is clamped to.
pub const MIN_TTL_MS: u64 = 1_000;
pub const MAX_TTL_MS: u64 = 86_400_000;

/// RFC 4648 URL alphabet without padding. Decoding ignores non-zero trailing
/// bits, as the TypeScript decoder did, so exactly the same strings verify.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(true),
);

type HmacSha256 = Hmac<Sha256>;

/// The signed payload; field order is the JSON key order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Payload<'a> {
    v: u64,
    aud: &'a str,
    vault_id: &'a str,
    iat: u64,
    exp: u64,
    nonce: String,
}

/// The ticket endpoint's 200 body: `{ticket, expiresAt, ttlMs}`.
#[derive(Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedTicket {
    pub ticket: String,
    pub expires_at: u64,
    pub ttl_ms: u64,
}

/// Redacts the ticket: it is a credential until it expires.
impl std::fmt::Debug for IssuedTicket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTicket")
            .field("ticket", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("ttl_ms", &self.ttl_ms)
            .finish()
    }
}

impl IssuedTicket {
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("a struct of strings and integers serializes")
    }
}

/// The keys a socket ticket is checked against, in order.
#[derive(Clone, Copy)]
pub struct TicketKeys<'a> {
    /// This server's key, derived from the secret: it signs every ticket issued.
    pub ours: [u8; 32],
    /// The TypeScript server's key: the secret's own bytes (spec 5.5). Only
    /// ever verified against, never signed with.
    pub typescript: &'a [u8],
}

/// Redacts both keys: either one signs valid tickets.
impl std::fmt::Debug for TicketKeys<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TicketKeys")
            .field("ours", &"<redacted>")
            .field("typescript", &"<redacted>")
            .finish()
    }
}

/// Which key a ticket verified under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signer {
    /// Ours: a ticket this server issued.
    Ours,
    /// The secret itself: a ticket the TypeScript server issued before an
    /// upgrade, accepted until it expires.
    TypeScript,
}

/// Which verification rule a ticket broke, in the order they are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TicketError {
    #[error("no '.' separating payload and signature, or one at either end")]
    Malformed,
    #[error("a part is not strict base64url")]
    Encoding,
    #[error("signature does not match")]
    Signature,
    #[error("payload is not JSON with the expected field types")]
    Payload,
    #[error("unsupported version")]
    Version,
    #[error("wrong audience")]
    Audience,
    #[error("issued for another vault")]
    VaultMismatch,
    #[error("expired")]
    Expired,
}

/// Signs a ticket for `vault_id` valid from `now_ms` for `ttl_ms`.
pub fn issue(
    key: &[u8],
    vault_id: &str,
    now_ms: u64,
    ttl_ms: u64,
    nonce: &[u8; 16],
) -> IssuedTicket {
    let expires_at = now_ms.saturating_add(ttl_ms);
    let payload = Payload {
        v: TICKET_VERSION,
        aud: TICKET_AUDIENCE,
        vault_id,
        iat: now_ms,
        exp: expires_at,
        nonce: B64URL.encode(nonce),
    };
    let json = serde_json::to_vec(&payload).expect("payload serializes");
    let encoded = B64URL.encode(json);
    let signature = B64URL.encode(mac(key, &encoded).finalize().into_bytes());
    IssuedTicket { ticket: format!("{encoded}.{signature}"), expires_at, ttl_ms }
}

/// Checks a ticket signed with `key` for the socket path's decoded `vault_id`
/// at `now_ms`.
pub fn verify(key: &[u8], ticket: &str, vault_id: &str, now_ms: u64) -> Result<(), TicketError> {
    check(ticket, vault_id, now_ms, |encoded, signature| {
        mac(key, encoded).verify_slice(signature).map_err(|_| TicketError::Signature)
    })
}

/// Checks a ticket signed with either key, ours first: the second HMAC is
/// paid only by tickets ours does not verify. Every other rule is the same.
pub fn verify_either(
    keys: &TicketKeys<'_>,
    ticket: &str,
    vault_id: &str,
    now_ms: u64,
) -> Result<Signer, TicketError> {
    check(ticket, vault_id, now_ms, |encoded, signature| {
        if mac(&keys.ours, encoded).verify_slice(signature).is_ok() {
            Ok(Signer::Ours)
        } else if mac(keys.typescript, encoded).verify_slice(signature).is_ok() {
            Ok(Signer::TypeScript)
        } else {
            Err(TicketError::Signature)
        }
    })
}

/// The rules of spec 5.5 in order, with the signature check supplied by the
/// caller (given the encoded payload and the decoded signature).
fn check<T>(
    ticket: &str,
    vault_id: &str,
    now_ms: u64,
    signature_check: impl FnOnce(&str, &[u8]) -> Result<T, TicketError>,
) -> Result<T, TicketError> {
    let (encoded, signature) = match ticket.split_once('.') {
        Some((p, s)) if !p.is_empty() && !s.is_empty() => (p, s),
        _ => return Err(TicketError::Malformed),
    };
    let signature = decode_strict(signature)?;
    let payload = decode_strict(encoded)?;
    let signer = signature_check(encoded, &signature)?;

    let payload: Value = serde_json::from_slice(&payload).map_err(|_| TicketError::Payload)?;
    let number = |name| payload.get(name).and_then(Value::as_f64);
    let string = |name| payload.get(name).and_then(Value::as_str);
    let (Some(v), Some(aud), Some(claimed_vault), Some(_iat), Some(exp), Some(_nonce)) = (
        number("v"),
        string("aud"),
        string("vaultId"),
        number("iat"),
        number("exp"),
        string("nonce"),
    ) else {
        return Err(TicketError::Payload);
    };
    if v != TICKET_VERSION as f64 {
        return Err(TicketError::Version);
    }
    if aud != TICKET_AUDIENCE {
        return Err(TicketError::Audience);
    }
    if claimed_vault != vault_id {
        return Err(TicketError::VaultMismatch);
    }
    if exp <= now_ms as f64 {
        return Err(TicketError::Expired);
    }
    Ok(signer)
}

/// Ticket lifetime from `YAOS_TICKET_TTL_MS` (spec 2): unset or empty gives the
/// default, as does anything `Number()` cannot make finite; otherwise floored
/// and clamped. Only the empty string is "empty": whitespace is `Number()` 0,
/// which clamps to the minimum, exactly as the TypeScript server behaved.
pub fn ttl_from_env(raw: Option<&str>) -> u64 {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return DEFAULT_TTL_MS;
    };
    let n = js::number(raw);
    if !n.is_finite() {
        return DEFAULT_TTL_MS;
    }
    // The clamp bounds are exact in f64, and the result is integral.
    n.floor().clamp(MIN_TTL_MS as f64, MAX_TTL_MS as f64) as u64
}

/// HMAC-SHA256 over the ASCII of the encoded payload (not the raw JSON).
fn mac(key: &[u8], encoded_payload: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(encoded_payload.as_bytes());
    mac
}

/// Strict base64url: only the URL alphabet, no padding, and a length of
/// 1 mod 4 is invalid.
fn decode_strict(part: &str) -> Result<Vec<u8>, TicketError> {
    let alphabet_only = part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !alphabet_only || part.len() % 4 == 1 {
        return Err(TicketError::Encoding);
    }
    B64URL.decode(part).map_err(|_| TicketError::Encoding)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::auth::token_hash_of;

    const NOW: u64 = 1_779_963_072_345;
    const KEY: &[u8] = b"env-token-value-that-is-long-enough";
    const NONCE: [u8; 16] = [0xAB; 16];

    fn sign_raw(key: &[u8], payload_json: &str) -> String {
        let encoded = B64URL.encode(payload_json);
        let sig = B64URL.encode(mac(key, &encoded).finalize().into_bytes());
        format!("{encoded}.{sig}")
    }

    #[test]
    fn issued_shape() {
        let issued = issue(KEY, "vault-1", NOW, 300_000, &NONCE);
        assert_eq!(issued.expires_at, NOW + 300_000);
        assert_eq!(
            issued.to_json().to_string(),
            format!(
                r#"{{"ticket":"{}","expiresAt":{},"ttlMs":300000}}"#,
                issued.ticket,
                NOW + 300_000
            )
        );
        let (encoded, sig) = issued.ticket.split_once('.').unwrap();
        assert_eq!(sig.len(), 43);
        let json = String::from_utf8(B64URL.decode(encoded).unwrap()).unwrap();
        let nonce = B64URL.encode(NONCE);
        assert_eq!(nonce.len(), 22);
        assert_eq!(
            json,
            format!(
                r#"{{"v":1,"aud":"yaos-ws","vaultId":"vault-1","iat":{NOW},"exp":{},"nonce":"{nonce}"}}"#,
                NOW + 300_000
            )
        );
    }

    #[test]
    fn round_trip_env_and_claim_keys() {
        let claim_key = token_hash_of("some-claimed-token-0123456789abcdef");
        for key in [KEY, claim_key.as_bytes()] {
            let ticket = issue(key, "vault/é", NOW, 60_000, &NONCE).ticket;
            assert_eq!(verify(key, &ticket, "vault/é", NOW), Ok(()));
            assert_eq!(verify(key, &ticket, "vault/é", NOW + 59_999), Ok(()));
        }
    }

    #[test]
    fn rejections() {
        let ticket = issue(KEY, "v1", NOW, 60_000, &NONCE).ticket;
        let (payload, sig) = ticket.split_once('.').unwrap();
        let flip_first = |s: &str| {
            let first = if s.starts_with('A') { 'B' } else { 'A' };
            format!("{first}{}", &s[1..])
        };
        let tampered_payload = format!("{}.{sig}", flip_first(payload));
        let tampered_sig = format!("{payload}.{}", flip_first(sig));
        // (name, ticket, key, vault id, now, expected error)
        type Case<'a> = (&'a str, String, &'a [u8], &'a str, u64, TicketError);
        let cases: Vec<Case> = vec![
            ("expired", ticket.clone(), KEY, "v1", NOW + 60_000, TicketError::Expired),
            ("wrong vault", ticket.clone(), KEY, "v2", NOW, TicketError::VaultMismatch),
            ("tampered payload", tampered_payload, KEY, "v1", NOW, TicketError::Signature),
            ("tampered signature", tampered_sig, KEY, "v1", NOW, TicketError::Signature),
            ("wrong secret", ticket.clone(), b"other-secret", "v1", NOW, TicketError::Signature),
            ("empty", String::new(), KEY, "v1", NOW, TicketError::Malformed),
            ("no dot", payload.to_owned(), KEY, "v1", NOW, TicketError::Malformed),
            ("leading dot", format!(".{sig}"), KEY, "v1", NOW, TicketError::Malformed),
            ("trailing dot", format!("{payload}."), KEY, "v1", NOW, TicketError::Malformed),
            ("lone dot", ".".into(), KEY, "v1", NOW, TicketError::Malformed),
            ("second dot", format!("{ticket}.x"), KEY, "v1", NOW, TicketError::Encoding),
            ("padding", format!("{payload}.{sig}="), KEY, "v1", NOW, TicketError::Encoding),
            (
                "std alphabet",
                format!("{payload}.{}+", &sig[..42]),
                KEY,
                "v1",
                NOW,
                TicketError::Encoding,
            ),
            ("length 1 mod 4", format!("{payload}.A"), KEY, "v1", NOW, TicketError::Encoding),
            ("spaces", format!("{payload}. {sig}"), KEY, "v1", NOW, TicketError::Encoding),
            (
                "truncated signature",
                format!("{payload}.{}", &sig[..40]),
                KEY,
                "v1",
                NOW,
                TicketError::Signature,
            ),
        ];
        for (name, ticket, key, vault, now, want) in cases {
            assert_eq!(verify(key, &ticket, vault, now), Err(want), "{name}");
        }
    }

    #[test]
    fn payload_rules() {
        let ok =
            r#"{"v":1,"aud":"yaos-ws","vaultId":"v1","iat":1,"exp":2000000000000000,"nonce":"n"}"#;
        let cases = [
            (ok, Ok(())),
            // JavaScript numbers: 1.0 is 1.
            (r#"{"v":1.0,"aud":"yaos-ws","vaultId":"v1","iat":1,"exp":2e15,"nonce":"n"}"#, Ok(())),
            (
                r#"{"v":2,"aud":"yaos-ws","vaultId":"v1","iat":1,"exp":2e15,"nonce":"n"}"#,
                Err(TicketError::Version),
            ),
            (
                r#"{"v":1,"aud":"other","vaultId":"v1","iat":1,"exp":2e15,"nonce":"n"}"#,
                Err(TicketError::Audience),
            ),
            (
                r#"{"v":"1","aud":"yaos-ws","vaultId":"v1","iat":1,"exp":2e15,"nonce":"n"}"#,
                Err(TicketError::Payload),
            ),
            (
                r#"{"v":1,"aud":"yaos-ws","vaultId":"v1","iat":"1","exp":2e15,"nonce":"n"}"#,
                Err(TicketError::Payload),
            ),
            (
                r#"{"v":1,"aud":"yaos-ws","vaultId":"v1","iat":1,"exp":2e15}"#,
                Err(TicketError::Payload),
            ),
            (
                r#"{"v":1,"aud":"yaos-ws","vaultId":7,"iat":1,"exp":2e15,"nonce":"n"}"#,
                Err(TicketError::Payload),
            ),
            (r#"[1]"#, Err(TicketError::Payload)),
            (r#"not json"#, Err(TicketError::Payload)),
            (
                r#"{"v":1,"aud":"yaos-ws","vaultId":"v1","iat":1,"exp":5,"nonce":"n"}"#,
                Err(TicketError::Expired),
            ),
        ];
        for (json, want) in cases {
            assert_eq!(verify(KEY, &sign_raw(KEY, json), "v1", NOW), want, "{json}");
        }
    }

    #[test]
    fn ttl_table() {
        let cases: [(Option<&str>, u64); 19] = [
            (None, DEFAULT_TTL_MS),
            (Some(""), DEFAULT_TTL_MS),
            (Some("abc"), DEFAULT_TTL_MS),
            (Some("Infinity"), DEFAULT_TTL_MS),
            (Some("1e400"), DEFAULT_TTL_MS),
            (Some("8000"), 8_000),
            (Some(" 8000 "), 8_000),
            (Some("8000.9"), 8_000),
            (Some("1e3"), 1_000),
            (Some("0x2710"), 10_000),
            (Some("0x10"), MIN_TTL_MS),
            (Some("999"), MIN_TTL_MS),
            (Some("0"), MIN_TTL_MS),
            (Some("-5"), MIN_TTL_MS),
            (Some("   "), MIN_TTL_MS),
            (Some("86400000"), MAX_TTL_MS),
            (Some("86400001"), MAX_TTL_MS),
            (Some("1e12"), MAX_TTL_MS),
            (Some("300000"), 300_000),
        ];
        for (raw, want) in cases {
            assert_eq!(ttl_from_env(raw), want, "{raw:?}");
        }
    }
}
