//! The vault-ID rule, checked by the route classifier before anything else
//! looks at an ID (no config read, no Durable Object woken).
//!
//! The ID names the vault's Durable Object, is part of every R2 key of the
//! vault, and travels to the object in the `x-partykit-room` header. The
//! plugin generates 22 base64url characters (16 random bytes; its settings
//! let a user type any trimmed string), so the rule refuses only what cannot
//! work anyway: characters a header cannot carry (the TypeScript server put
//! the ID in the same header, so no vault with such an ID ever synced there)
//! and IDs too long for their R2 keys. `/` stays allowed, so existing vaults
//! keep their data; the snapshot listing keeps each vault to its own keys
//! (`snapshot::vault`).

/// The longest vault ID, in UTF-8 bytes. R2 keys hold at most 1,024 bytes,
/// and the longest key of a vault (`v1/<id>/snapshots/<day>/<snapshot id>/
/// crdt.bin.gz`) adds about 60 to the ID; the plugin's IDs are 22.
pub const MAX_VAULT_ID_BYTES: usize = 512;

/// Why a vault ID is refused (the edge answers 400 `invalid vaultId`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VaultIdError {
    #[error("empty vault ID")]
    Empty,
    #[error("vault ID longer than {MAX_VAULT_ID_BYTES} bytes")]
    TooLong,
    /// A control character (NUL, CR, LF, …) or one above U+00FF: a header
    /// value cannot carry it, so every request to the vault would fail.
    #[error("vault ID has a character a request header cannot carry")]
    Character,
}

/// Checks a decoded vault ID against the rule.
pub fn check_vault_id(id: &str) -> Result<(), VaultIdError> {
    if id.is_empty() {
        return Err(VaultIdError::Empty);
    }
    if id.len() > MAX_VAULT_ID_BYTES {
        return Err(VaultIdError::TooLong);
    }
    if id.chars().any(|c| c.is_control() || u32::from(c) > 0xFF) {
        return Err(VaultIdError::Character);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_ids_and_typed_ones_pass_and_unusable_ones_are_refused() {
        let ok = [
            "AbCdEfGhIjKlMnOpQrStUv", // the plugin's 22 base64url characters
            "a-b_c",
            "my vault",
            "p/snapshots/x", // existing vaults with `/` stay reachable
            "café",          // Latin-1 fits a header
            "550e8400-e29b-41d4-a716-446655440000",
        ];
        for id in ok {
            assert_eq!(check_vault_id(id), Ok(()), "{id:?}");
        }
        assert_eq!(check_vault_id(&"a".repeat(MAX_VAULT_ID_BYTES)), Ok(()));
        assert_eq!(check_vault_id(&"a".repeat(MAX_VAULT_ID_BYTES + 1)), Err(VaultIdError::TooLong));
        assert_eq!(check_vault_id(""), Err(VaultIdError::Empty));
        for bad in ["a\rb", "a\nb", "a\0b", "a\tb", "\u{7f}", "\u{85}", "ā", "日本", "😀"] {
            assert_eq!(check_vault_id(bad), Err(VaultIdError::Character), "{bad:?}");
        }
    }
}
