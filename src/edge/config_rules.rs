//! Input rules for the server's stored config: the `POST /claim` body and
//! setup link (spec 6.4), the config DO's claim body (6.6), and the update
//! metadata fields (6.5). Pure functions; the shell and the config DO do the I/O.

use serde_json::{json, Value};

use super::auth::{token_hash_of, AuthState};
use super::http::EdgeError;
use super::js;
use super::repo_url::normalize_repo_url;

/// Minimum trimmed lengths (UTF-16 units, as JavaScript counts them).
pub const MIN_TOKEN_LENGTH: usize = 32;
pub const MIN_VAULT_ID_LENGTH: usize = 8;
/// Maximum `updateRepoBranch` length.
pub const MAX_BRANCH_LENGTH: usize = 120;

/// A valid `POST /claim` body, trimmed.
#[derive(Clone, PartialEq, Eq)]
pub struct ClaimRequest {
    pub token: String,
    pub vault_id: Option<String>,
}

/// Redacts the token.
impl std::fmt::Debug for ClaimRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClaimRequest")
            .field("token", &"<redacted>")
            .field("vault_id", &self.vault_id)
            .finish()
    }
}

impl ClaimRequest {
    /// Validates the parsed body: `token` a string of trimmed length ≥ 32;
    /// `vaultId`, if the key is present at all, a string of trimmed length ≥ 8
    /// that passes the vault-ID rule (`edge::vault_id`).
    /// A body that is not an object has no `token`. (The TypeScript server
    /// crashed with a 500 on a `null` body; this answers `invalid token`.)
    pub fn from_json(body: &Value) -> Result<Self, EdgeError> {
        let token = match body.get("token") {
            Some(Value::String(t)) if js::length(js::trim(t)) >= MIN_TOKEN_LENGTH => js::trim(t),
            _ => return Err(EdgeError::InvalidToken),
        };
        let vault_id = match body.get("vaultId") {
            None => None,
            Some(Value::String(v))
                if js::length(js::trim(v)) >= MIN_VAULT_ID_LENGTH
                    && super::vault_id::check_vault_id(js::trim(v)).is_ok() =>
            {
                Some(js::trim(v).to_owned())
            }
            Some(_) => return Err(EdgeError::InvalidVaultId),
        };
        Ok(Self { token: token.to_owned(), vault_id })
    }

    /// What the config DO stores: hex SHA-256 of the trimmed token.
    pub fn token_hash(&self) -> String {
        token_hash_of(&self.token)
    }

    /// The claim's 200 body `{ok, host, obsidianUrl, capabilities}`; `host` is
    /// the request origin and `capabilities` the claim-mode private view.
    pub fn success_json(&self, host: &str, capabilities: Value) -> Value {
        json!({
            "ok": true,
            "host": host,
            "obsidianUrl": obsidian_setup_url(host, &self.token, self.vault_id.as_deref()),
            "capabilities": capabilities,
        })
    }
}

/// `obsidian://yaos?action=setup&host=…&token=…[&vaultId=…]`, form-encoded
/// like `URLSearchParams`; an empty `vault_id` is left out.
pub fn obsidian_setup_url(host: &str, token: &str, vault_id: Option<&str>) -> String {
    let mut params = vec![("action", "setup"), ("host", host), ("token", token)];
    if let Some(vault_id) = vault_id.filter(|v| !v.is_empty()) {
        params.push(("vaultId", vault_id));
    }
    format!("obsidian://yaos?{}", js::form_urlencode(&params))
}

/// What the config object does with a claim, given what it holds. A repeat
/// of the claim that won (the same token hash) succeeds again, so a client
/// whose answer was lost can retry instead of leaving the server claimed by
/// a token nobody has; any other claim of a claimed server is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimDecision {
    Store,
    AlreadyYours,
    Taken,
}

/// The decision for `token_hash` when storage holds `claimed` and
/// `stored_hash`. The caller must have read both without error: a read that
/// failed is an error, never "unclaimed" (which would let a second claim in).
pub fn decide_claim(claimed: bool, stored_hash: Option<&str>, token_hash: &str) -> ClaimDecision {
    use subtle::ConstantTimeEq;
    match stored_hash.filter(|h| claimed && !h.is_empty()) {
        None => ClaimDecision::Store,
        Some(stored) if bool::from(stored.as_bytes().ct_eq(token_hash.as_bytes())) => {
            ClaimDecision::AlreadyYours
        }
        Some(_) => ClaimDecision::Taken,
    }
}

/// What the Worker does with `POST /claim` before any storage write.
#[derive(Debug)]
pub enum ClaimStep {
    /// Unclaimed and valid: ask the config object to store it.
    Store(ClaimRequest),
    /// Claimed by this very token: answer success again, write nothing.
    Repeat(ClaimRequest),
    Refuse(EdgeError),
}

/// The Worker's claim rule over the auth state and the parsed body. A claimed
/// server refuses every other body with `already_claimed`, invalid ones
/// included (spec 6.4: "already claimed" wins over validation).
pub fn claim_step(state: &AuthState, body: Result<ClaimRequest, EdgeError>) -> ClaimStep {
    match (state, body) {
        (AuthState::Unclaimed, Ok(claim)) => ClaimStep::Store(claim),
        (AuthState::Unclaimed, Err(e)) => ClaimStep::Refuse(e),
        (AuthState::Claim { .. }, Ok(claim)) if state.accepts(Some(&claim.token)) => {
            ClaimStep::Repeat(claim)
        }
        _ => ClaimStep::Refuse(EdgeError::AlreadyClaimed),
    }
}

/// The claim's answer when it needs no body: an env-token server is always
/// `already_claimed`, so its body is never read (a claimed server still reads
/// at most `body::MAX_CLAIM_BODY_BYTES`, since the winning token may repeat
/// its claim; a body past that is `already_claimed` through [`claim_step`]).
pub fn claim_refused_unread(state: &AuthState) -> Option<EdgeError> {
    matches!(state, AuthState::Env { .. }).then_some(EdgeError::AlreadyClaimed)
}

/// The config DO's `POST /__yaos/claim` body `{tokenHash}`: a non-empty string.
pub fn claim_token_hash(body: &Value) -> Result<String, EdgeError> {
    match body.get("tokenHash") {
        Some(Value::String(hash)) if !hash.is_empty() => Ok(hash.clone()),
        _ => Err(EdgeError::MissingTokenHash),
    }
}

/// The update providers the plugin knows.
pub const UPDATE_PROVIDERS: [&str; 3] = ["github", "gitlab", "unknown"];

/// A validated update-metadata write. `None` means "leave unchanged": values
/// can be set but never cleared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateMetadata {
    pub provider: Option<String>,
    pub repo_url: Option<String>,
    pub repo_branch: Option<String>,
}

impl UpdateMetadata {
    /// Validates `{updateProvider?, updateRepoUrl?, updateRepoBranch?}`. A
    /// missing, `null` or blank field is `None`; any other non-string is an
    /// error naming the field. A body that is not an object changes nothing.
    pub fn from_json(body: &Value) -> Result<Self, EdgeError> {
        let provider = field(body, "updateProvider", EdgeError::InvalidUpdateProvider)?
            .map(|raw| {
                let lower = raw.to_lowercase();
                if UPDATE_PROVIDERS.contains(&lower.as_str()) {
                    Ok(lower)
                } else {
                    Err(EdgeError::InvalidUpdateProvider)
                }
            })
            .transpose()?;
        let repo_url = field(body, "updateRepoUrl", EdgeError::InvalidUpdateRepoUrl)?
            .map(|raw| normalize_repo_url(raw).ok_or(EdgeError::InvalidUpdateRepoUrl))
            .transpose()?;
        let repo_branch = field(body, "updateRepoBranch", EdgeError::InvalidUpdateRepoBranch)?
            .map(|raw| {
                if is_valid_branch(raw) {
                    Ok(raw.to_owned())
                } else {
                    Err(EdgeError::InvalidUpdateRepoBranch)
                }
            })
            .transpose()?;
        Ok(Self { provider, repo_url, repo_branch })
    }
}

/// A field's trimmed, non-empty string value; `None` when absent, null or blank.
fn field<'a>(
    body: &'a Value,
    name: &str,
    invalid: EdgeError,
) -> Result<Option<&'a str>, EdgeError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(raw)) => Ok(Some(js::trim(raw)).filter(|s| !s.is_empty())),
        Some(_) => Err(invalid),
    }
}

/// At most 120 characters of `[A-Za-z0-9._/-]`, with no `..` (kept safe for
/// URLs and queries built from it).
fn is_valid_branch(branch: &str) -> bool {
    branch.len() <= MAX_BRANCH_LENGTH
        && branch
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'/' | b'-'))
        && !branch.contains("..")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_repeated_claim_with_the_same_token_succeeds_and_any_other_is_refused() {
        let hash = token_hash_of(TOKEN);
        assert_eq!(decide_claim(false, None, &hash), ClaimDecision::Store);
        assert_eq!(decide_claim(true, Some(""), &hash), ClaimDecision::Store);
        assert_eq!(decide_claim(false, Some(&hash), &hash), ClaimDecision::Store);
        assert_eq!(decide_claim(true, Some(&hash), &hash), ClaimDecision::AlreadyYours);
        let other = token_hash_of("another-token-0123456789abcdef0123");
        assert_eq!(decide_claim(true, Some(&other), &hash), ClaimDecision::Taken);

        let claim = |token: &str| ClaimRequest { token: token.to_owned(), vault_id: None };
        let claimed = AuthState::Claim { token_hash: hash.clone() };
        assert!(matches!(claim_step(&AuthState::Unclaimed, Ok(claim(TOKEN))), ClaimStep::Store(_)));
        assert!(matches!(
            claim_step(&AuthState::Unclaimed, Err(EdgeError::InvalidToken)),
            ClaimStep::Refuse(EdgeError::InvalidToken)
        ));
        assert!(matches!(claim_step(&claimed, Ok(claim(TOKEN))), ClaimStep::Repeat(_)));
        for body in [Ok(claim("another-token-0123456789abcdef0123")), Err(EdgeError::InvalidToken)]
        {
            assert!(matches!(
                claim_step(&claimed, body),
                ClaimStep::Refuse(EdgeError::AlreadyClaimed)
            ));
        }
        let env = AuthState::Env { token: TOKEN.to_owned() };
        assert!(matches!(
            claim_step(&env, Ok(claim(TOKEN))),
            ClaimStep::Refuse(EdgeError::AlreadyClaimed)
        ));
    }

    #[test]
    fn an_env_token_server_refuses_a_claim_unread_and_an_oversized_body_is_413_only_when_unclaimed()
    {
        let env = AuthState::Env { token: TOKEN.to_owned() };
        assert_eq!(claim_refused_unread(&env), Some(EdgeError::AlreadyClaimed));
        let claimed = AuthState::Claim { token_hash: token_hash_of(TOKEN) };
        // These two read at most the claim limit: the first claim, and the
        // winning token's repeat.
        assert_eq!(claim_refused_unread(&claimed), None);
        assert_eq!(claim_refused_unread(&AuthState::Unclaimed), None);
        let too_large = || Err(EdgeError::BodyTooLarge(crate::edge::body::MAX_CLAIM_BODY_BYTES));
        assert!(matches!(
            claim_step(&claimed, too_large()),
            ClaimStep::Refuse(EdgeError::AlreadyClaimed)
        ));
        assert!(matches!(
            claim_step(&AuthState::Unclaimed, too_large()),
            ClaimStep::Refuse(EdgeError::BodyTooLarge(_))
        ));
    }

    #[test]
    fn claim_body_table() {
        let ok = |token: &str, vault: Option<&str>| {
            Ok(ClaimRequest { token: token.to_owned(), vault_id: vault.map(str::to_owned) })
        };
        let cases = [
            (json!({"token": TOKEN}), ok(TOKEN, None)),
            (json!({"token": format!("  {TOKEN}\n")}), ok(TOKEN, None)),
            (json!({"token": TOKEN, "vaultId": " vault-123 "}), ok(TOKEN, Some("vault-123"))),
            (json!({"token": TOKEN, "vaultId": "12345678"}), ok(TOKEN, Some("12345678"))),
            (json!({"token": &TOKEN[..31]}), Err(EdgeError::InvalidToken)),
            (json!({"token": format!(" {} ", &TOKEN[..31])}), Err(EdgeError::InvalidToken)),
            (json!({"token": 12345}), Err(EdgeError::InvalidToken)),
            (json!({"vaultId": "12345678"}), Err(EdgeError::InvalidToken)),
            (json!({}), Err(EdgeError::InvalidToken)),
            (json!(null), Err(EdgeError::InvalidToken)),
            (json!("token"), Err(EdgeError::InvalidToken)),
            (json!({"token": TOKEN, "vaultId": "1234567"}), Err(EdgeError::InvalidVaultId)),
            (json!({"token": TOKEN, "vaultId": "   1234567   "}), Err(EdgeError::InvalidVaultId)),
            (json!({"token": TOKEN, "vaultId": null}), Err(EdgeError::InvalidVaultId)),
            (json!({"token": TOKEN, "vaultId": 12345678}), Err(EdgeError::InvalidVaultId)),
            (
                json!({"token": TOKEN, "vaultId": "vault\nwith a newline"}),
                Err(EdgeError::InvalidVaultId),
            ),
            // Lengths count UTF-16 units: 16 emoji are 32 units.
            (json!({"token": "😀".repeat(16)}), ok(&"😀".repeat(16), None)),
        ];
        for (body, want) in cases {
            assert_eq!(ClaimRequest::from_json(&body), want, "{body}");
        }
    }

    #[test]
    fn claim_hash_and_success_body() {
        let claim = ClaimRequest::from_json(
            &json!({"token": format!(" {TOKEN} "), "vaultId": "vault 1/é"}),
        )
        .unwrap();
        assert_eq!(claim.token_hash(), token_hash_of(TOKEN));
        assert_eq!(claim.token_hash().len(), 64);
        let body = claim.success_json("https://sync.example", json!({"claimed": true}));
        assert_eq!(
            body.to_string(),
            format!(
                concat!(
                    r#"{{"ok":true,"host":"https://sync.example","#,
                    r#""obsidianUrl":"obsidian://yaos?action=setup&host=https%3A%2F%2Fsync.example&token={}&vaultId=vault+1%2F%C3%A9","#,
                    r#""capabilities":{{"claimed":true}}}}"#
                ),
                TOKEN
            )
        );
    }

    #[test]
    fn setup_url_table() {
        let cases = [
            (
                ("http://localhost:8787", "t o+k", None),
                "obsidian://yaos?action=setup&host=http%3A%2F%2Flocalhost%3A8787&token=t+o%2Bk",
            ),
            (
                ("https://a.b", "tok", Some("")),
                "obsidian://yaos?action=setup&host=https%3A%2F%2Fa.b&token=tok",
            ),
            (
                ("https://a.b", "-_.*~", Some("v=1&x")),
                "obsidian://yaos?action=setup&host=https%3A%2F%2Fa.b&token=-_.*%7E&vaultId=v%3D1%26x",
            ),
        ];
        for ((host, token, vault), want) in cases {
            assert_eq!(obsidian_setup_url(host, token, vault), want);
        }
    }

    #[test]
    fn config_do_claim_body() {
        assert_eq!(claim_token_hash(&json!({"tokenHash": "ab"})), Ok("ab".into()));
        for bad in [json!({"tokenHash": ""}), json!({"tokenHash": 1}), json!({}), json!(null)] {
            assert_eq!(claim_token_hash(&bad), Err(EdgeError::MissingTokenHash), "{bad}");
        }
    }

    #[test]
    fn update_metadata_table() {
        let set = |p: Option<&str>, u: Option<&str>, b: Option<&str>| {
            Ok(UpdateMetadata {
                provider: p.map(str::to_owned),
                repo_url: u.map(str::to_owned),
                repo_branch: b.map(str::to_owned),
            })
        };
        let long_branch = "b".repeat(121);
        let max_branch = "b".repeat(120);
        let cases = [
            (json!({}), set(None, None, None)),
            (json!(null), set(None, None, None)),
            (json!([1, 2]), set(None, None, None)),
            (
                json!({"updateProvider": null, "updateRepoUrl": "  ", "updateRepoBranch": ""}),
                set(None, None, None),
            ),
            // provider
            (json!({"updateProvider": " GitHub "}), set(Some("github"), None, None)),
            (json!({"updateProvider": "gitlab"}), set(Some("gitlab"), None, None)),
            (json!({"updateProvider": "UNKNOWN"}), set(Some("unknown"), None, None)),
            (json!({"updateProvider": "bitbucket"}), Err(EdgeError::InvalidUpdateProvider)),
            (json!({"updateProvider": 1}), Err(EdgeError::InvalidUpdateProvider)),
            (json!({"updateProvider": true}), Err(EdgeError::InvalidUpdateProvider)),
            // repo URL (normalisation itself is tabled in repo_url)
            (
                json!({"updateRepoUrl": " https://github.com/o/r.git/ "}),
                set(None, Some("https://github.com/o/r"), None),
            ),
            (
                json!({"updateRepoUrl": "https://github.com/o"}),
                Err(EdgeError::InvalidUpdateRepoUrl),
            ),
            (json!({"updateRepoUrl": "not a url"}), Err(EdgeError::InvalidUpdateRepoUrl)),
            (json!({"updateRepoUrl": {}}), Err(EdgeError::InvalidUpdateRepoUrl)),
            // branch
            (json!({"updateRepoBranch": " main "}), set(None, None, Some("main"))),
            (
                json!({"updateRepoBranch": "release/v1.2_x-y"}),
                set(None, None, Some("release/v1.2_x-y")),
            ),
            (json!({"updateRepoBranch": max_branch}), set(None, None, Some(&max_branch))),
            (json!({"updateRepoBranch": long_branch}), Err(EdgeError::InvalidUpdateRepoBranch)),
            (json!({"updateRepoBranch": "a..b"}), Err(EdgeError::InvalidUpdateRepoBranch)),
            (json!({"updateRepoBranch": "feat branch"}), Err(EdgeError::InvalidUpdateRepoBranch)),
            (json!({"updateRepoBranch": "feat~1"}), Err(EdgeError::InvalidUpdateRepoBranch)),
            (json!({"updateRepoBranch": "brånch"}), Err(EdgeError::InvalidUpdateRepoBranch)),
            (json!({"updateRepoBranch": ["main"]}), Err(EdgeError::InvalidUpdateRepoBranch)),
            // the first invalid field, in order, is the one reported
            (
                json!({"updateProvider": "x", "updateRepoBranch": "a..b"}),
                Err(EdgeError::InvalidUpdateProvider),
            ),
            (
                json!({"updateProvider": "github", "updateRepoUrl": "https://gitlab.com/g/p", "updateRepoBranch": "dev"}),
                set(Some("github"), Some("https://gitlab.com/g/p"), Some("dev")),
            ),
        ];
        for (body, want) in cases {
            assert_eq!(UpdateMetadata::from_json(&body), want, "{body}");
        }
    }
}
