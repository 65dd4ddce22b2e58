//! The attachment routes' rules (spec 7.3): blob keys, hash and
//! `Content-Length` validation, and the `exists` request. The shell streams
//! bodies between the request, R2 and the response; nothing here sees them.

use serde_json::Value;

use super::capabilities::MAX_BLOB_UPLOAD_BYTES;
use super::http::EdgeError;
use crate::hex::is_sha256_hex;
use crate::safe_int::MAX_SAFE_INTEGER;

/// Hashes of one `POST /blobs/exists` that are looked up; the rest are ignored.
pub const EXISTS_BATCH_LIMIT: usize = 50;
/// R2 HEAD requests in flight at once for `exists`.
pub const HEAD_CONCURRENCY: usize = 4;
/// The content type of a blob stored without one.
pub const DEFAULT_BLOB_CONTENT_TYPE: &str = "application/octet-stream";

/// The R2 key of a blob: `v1/<vaultId>/blobs/<hash>`.
pub fn blob_key(vault_id: &str, hash: &str) -> String {
    format!("v1/{vault_id}/blobs/{hash}")
}

/// A blob hash from the path: exactly 64 lowercase hex characters.
pub fn check_hash(hash: &str) -> Result<(), EdgeError> {
    if is_sha256_hex(hash) {
        Ok(())
    } else {
        Err(EdgeError::InvalidHash)
    }
}

/// The upload's declared length, after the checks of spec 7.3 steps 1–3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeclaredLength {
    /// A valid `Content-Length` within the cap (possibly 0).
    Known(u64),
    /// No `Content-Length`: the body must be measured as it is read.
    Unknown,
}

/// Checks a `PUT /blobs/<hash>` before its body is read: the hash, then the
/// `Content-Length` (digits only after trimming, a safe integer, within
/// [`MAX_BLOB_UPLOAD_BYTES`]).
pub fn check_upload(hash: &str, content_length: Option<&str>) -> Result<DeclaredLength, EdgeError> {
    check_hash(hash)?;
    let Some(raw) = content_length else { return Ok(DeclaredLength::Unknown) };
    let length = parse_content_length(raw).ok_or(EdgeError::InvalidContentLength)?;
    check_body_length(length)?;
    Ok(DeclaredLength::Known(length))
}

/// A body's measured length: empty is `missing request body`, over the cap
/// the same 413 as a declared length.
pub fn check_body_length(length: u64) -> Result<(), EdgeError> {
    if length > MAX_BLOB_UPLOAD_BYTES {
        Err(EdgeError::UploadTooLarge)
    } else {
        Ok(())
    }
}

/// `Content-Length` as the TypeScript server read it: trimmed, `^\d+$`, and
/// a safe integer (≤ 2^53 − 1); leading zeros are fine.
pub fn parse_content_length(raw: &str) -> Option<u64> {
    let trimmed = super::js::trim(raw);
    if trimmed.is_empty() || !trimmed.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let digits = trimmed.trim_start_matches('0');
    if digits.len() > 16 {
        return None;
    }
    let value: u64 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    (value <= MAX_SAFE_INTEGER).then_some(value)
}

/// The hashes a `POST /blobs/exists` body asks about: the first
/// [`EXISTS_BATCH_LIMIT`] entries of `hashes`, invalid ones dropped.
pub fn exists_request(body: &Value) -> Result<Vec<String>, EdgeError> {
    let Some(hashes) = body.get("hashes").and_then(Value::as_array) else {
        return Err(EdgeError::MissingHashesArray);
    };
    Ok(hashes
        .iter()
        .take(EXISTS_BATCH_LIMIT)
        .filter_map(Value::as_str)
        .filter(|h| is_sha256_hex(h))
        .map(str::to_owned)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hex::sha256_hex;
    use serde_json::json;

    #[test]
    fn content_length_parsing() {
        let cases = [
            ("0", Some(0)),
            ("10", Some(10)),
            (" 42 ", Some(42)),
            ("\t7\n", Some(7)),
            ("007", Some(7)),
            ("10485760", Some(10_485_760)),
            ("9007199254740991", Some(9_007_199_254_740_991)),
            ("00000000000000000009007199254740991", Some(9_007_199_254_740_991)),
            ("9007199254740992", None),
            ("99999999999999999999999", None),
            ("", None),
            ("   ", None),
            ("-1", None),
            ("+1", None),
            ("1.0", None),
            ("1e3", None),
            ("0x10", None),
            ("1 2", None),
            ("١٢", None),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_content_length(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn upload_checks_in_order() {
        let hash = sha256_hex(b"x");
        assert_eq!(check_upload("nope", Some("abc")), Err(EdgeError::InvalidHash), "hash first");
        assert_eq!(check_upload(&hash.to_uppercase(), None), Err(EdgeError::InvalidHash));
        assert_eq!(check_upload(&hash, Some("abc")), Err(EdgeError::InvalidContentLength));
        assert_eq!(check_upload(&hash, Some("10485761")), Err(EdgeError::UploadTooLarge));
        assert_eq!(check_upload(&hash, Some("10485760")), Ok(DeclaredLength::Known(10_485_760)));
        assert_eq!(check_upload(&hash, Some("0")), Ok(DeclaredLength::Known(0)));
        assert_eq!(check_upload(&hash, None), Ok(DeclaredLength::Unknown));
        assert_eq!(check_body_length(10_485_761), Err(EdgeError::UploadTooLarge));
    }

    #[test]
    fn exists_takes_the_first_fifty_valid_hashes_in_order() {
        let hashes: Vec<String> = (0..60).map(|i: u32| sha256_hex(&i.to_le_bytes())).collect();
        let mut body: Vec<Value> = hashes.iter().map(|h| json!(h)).collect();
        body.insert(1, json!("not-a-hash"));
        body.insert(2, json!(5));
        let got = exists_request(&json!({ "hashes": body })).unwrap();
        assert_eq!(got, hashes[..48].to_vec(), "50 entries counted, 2 of them invalid");
        assert_eq!(exists_request(&json!({"hashes": "x"})), Err(EdgeError::MissingHashesArray));
        assert_eq!(exists_request(&json!([])), Err(EdgeError::MissingHashesArray));
        assert_eq!(exists_request(&json!({"hashes": []})), Ok(vec![]));
    }

    #[test]
    fn keys() {
        assert_eq!(blob_key("v", "ab"), "v1/v/blobs/ab");
    }
}
