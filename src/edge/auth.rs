//! Who may use the server: auth mode resolution, the stored config it reads,
//! token checks, and the HTTP and WebSocket credential decisions (spec 5.1–5.3,
//! 5.6 step 1).
//!
//! Only the stored config is cached by the shell (spec 5.4); every decision
//! here is recomputed per request from an [`AuthState`].

use std::fmt;

use crate::hex::sha256_hex;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use super::config_rules::UPDATE_PROVIDERS;
use super::http::EdgeError;
use super::js;
use super::ticket::{self, IssuedTicket, Signer, TicketKeys};
use super::ticket_key::{ticket_key, weak_token_page_warning, weak_token_warning};

/// The three modes as capabilities and logs name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    Env,
    Claim,
    Unclaimed,
}

impl AuthMode {
    /// `"env"`, `"claim"` or `"unclaimed"` (the capabilities `authMode`).
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Env => "env",
            AuthMode::Claim => "claim",
            AuthMode::Unclaimed => "unclaimed",
        }
    }

    /// The capabilities `claimed` flag.
    pub fn is_claimed(self) -> bool {
        self != AuthMode::Unclaimed
    }
}

/// The config DO's `GET /__yaos/config` answer (spec 6.6). Missing keys read
/// as their defaults so an older or partial answer still deserializes.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StoredConfig {
    pub claimed: bool,
    pub token_hash: Option<String>,
    pub update_provider: Option<String>,
    pub update_repo_url: Option<String>,
    pub update_repo_branch: Option<String>,
}

impl StoredConfig {
    /// Applies the config DO's read rules (spec 6.6): empty strings and
    /// unknown providers read back as null, and `claimed` holds only with a
    /// non-empty hash.
    pub fn normalized(self) -> Self {
        let non_empty = |value: Option<String>| value.filter(|s| !s.is_empty());
        let token_hash = non_empty(self.token_hash);
        Self {
            claimed: self.claimed && token_hash.is_some(),
            token_hash,
            update_provider: self
                .update_provider
                .filter(|p| UPDATE_PROVIDERS.contains(&p.as_str())),
            update_repo_url: non_empty(self.update_repo_url),
            update_repo_branch: non_empty(self.update_repo_branch),
        }
    }
}

/// Redacts the hash: in claim mode it is the ticket signing key.
impl fmt::Debug for StoredConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredConfig")
            .field("claimed", &self.claimed)
            .field("token_hash", &self.token_hash.as_ref().map(|_| "<redacted>"))
            .field("update_provider", &self.update_provider)
            .field("update_repo_url", &self.update_repo_url)
            .field("update_repo_branch", &self.update_repo_branch)
            .finish()
    }
}

/// The resolved mode with the secret it checks tokens against.
#[derive(Clone, PartialEq, Eq)]
pub enum AuthState {
    /// `SYNC_TOKEN` (trimmed) is the only valid token.
    Env {
        token: String,
    },
    /// Tokens must hash to the stored lowercase hex SHA-256.
    Claim {
        token_hash: String,
    },
    Unclaimed,
}

/// Never prints the secret.
impl fmt::Debug for AuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthState::{:?}", self.mode())
    }
}

/// Why a vault request or socket was refused before reaching any DO.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    Unclaimed,
    /// Env mode with an empty token: unreachable through [`AuthState::from_env`]
    /// (trimming sends an empty token to the other modes), kept for fidelity.
    ServerMisconfigured,
    Unauthorized,
}

impl From<Denial> for EdgeError {
    fn from(denial: Denial) -> Self {
        match denial {
            Denial::Unclaimed => EdgeError::Unclaimed,
            Denial::ServerMisconfigured => EdgeError::ServerMisconfigured,
            Denial::Unauthorized => EdgeError::Unauthorized,
        }
    }
}

/// The credentials a sync-socket request carries, as raw as the request has
/// them: `ticket` and `token` are the first query values (`None` if the
/// parameter is absent; `Some("")` counts as a present ticket).
#[derive(Clone, Copy, Default)]
pub struct SocketCredentials<'a> {
    pub ticket: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub token: Option<&'a str>,
}

/// Says which credentials are present, never what they are.
impl fmt::Debug for SocketCredentials<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |v: Option<&str>| v.map(|_| "<redacted>");
        f.debug_struct("SocketCredentials")
            .field("ticket", &shown(self.ticket))
            .field("authorization", &shown(self.authorization))
            .field("token", &shown(self.token))
            .finish()
    }
}

/// How an admitted socket authenticated. A legacy token is worth a warning in
/// the log, so operators can tell when `YAOS_DISABLE_LEGACY_WS_TOKEN` is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SocketAuth {
    Ticket,
    /// A ticket the TypeScript server signed before an upgrade (see
    /// [`ticket::verify_either`]); the log says when these stop arriving.
    TypeScriptTicket,
    LegacyToken,
}

impl AuthState {
    /// Env mode if `SYNC_TOKEN` is non-empty after trimming. `None` means the
    /// shell must fetch the stored config and call [`AuthState::from_stored`].
    pub fn from_env(sync_token: Option<&str>) -> Option<Self> {
        let token = js::trim(sync_token?);
        (!token.is_empty()).then(|| AuthState::Env { token: token.to_owned() })
    }

    /// Claim mode when the config is claimed with a non-empty hash, else unclaimed.
    pub fn from_stored(config: &StoredConfig) -> Self {
        match &config.token_hash {
            Some(hash) if config.claimed && !hash.is_empty() => {
                AuthState::Claim { token_hash: hash.clone() }
            }
            _ => AuthState::Unclaimed,
        }
    }

    pub fn mode(&self) -> AuthMode {
        match self {
            AuthState::Env { .. } => AuthMode::Env,
            AuthState::Claim { .. } => AuthMode::Claim,
            AuthState::Unclaimed => AuthMode::Unclaimed,
        }
    }

    /// Whether `token` is valid. A missing or empty token never is. Both
    /// comparisons are constant-time (the TypeScript env check was not; this
    /// is stricter, not different).
    pub fn accepts(&self, token: Option<&str>) -> bool {
        let Some(token) = token.filter(|t| !t.is_empty()) else {
            return false;
        };
        match self {
            AuthState::Env { token: expected } => {
                token.as_bytes().ct_eq(expected.as_bytes()).into()
            }
            AuthState::Claim { token_hash } => {
                token_hash_of(token).as_bytes().ct_eq(token_hash.as_bytes()).into()
            }
            AuthState::Unclaimed => false,
        }
    }

    /// The ticket keys. The secret is the env token's bytes, or the stored hex
    /// hash string's bytes (spec 5.5 uses it as the key itself, as the
    /// TypeScript server did); ours is derived from it (see
    /// [`super::ticket_key`]). An unclaimed server cannot sign.
    pub fn ticket_keys(&self) -> Option<TicketKeys<'_>> {
        let secret = match self {
            AuthState::Env { token } => token.as_bytes(),
            AuthState::Claim { token_hash } => token_hash.as_bytes(),
            AuthState::Unclaimed => return None,
        };
        Some(TicketKeys { ours: ticket_key(secret), typescript: secret })
    }

    /// The weak-token warning for the log (env mode only): with the length.
    pub fn weak_token_warning(&self) -> Option<String> {
        match self {
            AuthState::Env { token } => weak_token_warning(token),
            _ => None,
        }
    }

    /// The weak-token warning for the public home page (env mode only):
    /// without the length.
    pub fn weak_token_page_warning(&self) -> Option<String> {
        match self {
            AuthState::Env { token } => weak_token_page_warning(token),
            _ => None,
        }
    }

    /// The gate before every vault resource handler and update-metadata
    /// (spec 5.3), given the raw `Authorization` header.
    pub fn authorize_http(&self, authorization: Option<&str>) -> Result<(), Denial> {
        self.require_usable()?;
        if self.accepts(bearer_token(authorization)) {
            Ok(())
        } else {
            Err(Denial::Unauthorized)
        }
    }

    /// Spec 5.6 step 1. A present ticket is the only credential checked (no
    /// fallback to the token), under either ticket key; without one, the legacy token (Bearer header, else `?token=`)
    /// is checked unless legacy tokens are disabled.
    pub fn authorize_socket(
        &self,
        credentials: &SocketCredentials<'_>,
        legacy_token_disabled: bool,
        vault_id: &str,
        now_ms: u64,
    ) -> Result<SocketAuth, Denial> {
        self.require_usable()?;
        if let Some(ticket) = credentials.ticket {
            let keys = self.ticket_keys().ok_or(Denial::Unauthorized)?;
            return match ticket::verify_either(&keys, ticket, vault_id, now_ms) {
                Ok(Signer::Ours) => Ok(SocketAuth::Ticket),
                Ok(Signer::TypeScript) => Ok(SocketAuth::TypeScriptTicket),
                Err(_) => Err(Denial::Unauthorized),
            };
        }
        if legacy_token_disabled {
            return Err(Denial::Unauthorized);
        }
        let token = bearer_token(credentials.authorization).or(credentials.token);
        if self.accepts(token) {
            Ok(SocketAuth::LegacyToken)
        } else {
            Err(Denial::Unauthorized)
        }
    }

    /// Issues a ticket for `POST /vault/<id>/auth/ticket` (spec 5.5). `nonce`
    /// is 16 random bytes from the platform.
    pub fn issue_ticket(
        &self,
        vault_id: &str,
        now_ms: u64,
        ttl_ms: u64,
        nonce: &[u8; 16],
    ) -> Result<IssuedTicket, EdgeError> {
        let keys = self
            .ticket_keys()
            .ok_or_else(|| EdgeError::Internal("cannot sign ticket: server is unclaimed".into()))?;
        // Always our key: the secret itself never signs (see `ticket_key`).
        Ok(ticket::issue(&keys.ours, vault_id, now_ms, ttl_ms, nonce))
    }

    /// The checks that come before any credential: unclaimed, then misconfigured.
    fn require_usable(&self) -> Result<(), Denial> {
        match self {
            AuthState::Unclaimed => Err(Denial::Unclaimed),
            AuthState::Env { token } if token.is_empty() => Err(Denial::ServerMisconfigured),
            _ => Ok(()),
        }
    }
}

/// The Bearer token of an `Authorization` header: exact, case-sensitive
/// `"Bearer "` prefix, remainder trimmed, empty meaning none (spec 5.2).
pub fn bearer_token(authorization: Option<&str>) -> Option<&str> {
    let token = js::trim(authorization?.strip_prefix("Bearer ")?);
    (!token.is_empty()).then_some(token)
}

/// `YAOS_DISABLE_LEGACY_WS_TOKEN`: any non-empty string (not trimmed, as in
/// JavaScript truthiness) disables legacy WebSocket tokens.
pub fn legacy_ws_token_disabled(raw: Option<&str>) -> bool {
    raw.is_some_and(|value| !value.is_empty())
}

/// The stored `tokenHash` form of a token: hex SHA-256 of its UTF-8 bytes.
/// Callers trim first where the contract says so (claiming does).
pub fn token_hash_of(token: &str) -> String {
    sha256_hex(token.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::ticket::TicketError;

    const TOKEN: &str = "correct-horse-battery-staple-0123456789";

    fn claim_state() -> AuthState {
        AuthState::Claim { token_hash: token_hash_of(TOKEN) }
    }

    fn env_state() -> AuthState {
        AuthState::Env { token: TOKEN.to_owned() }
    }

    #[test]
    fn mode_resolution() {
        assert_eq!(
            AuthState::from_env(Some(" tok \n")),
            Some(AuthState::Env { token: "tok".into() })
        );
        assert_eq!(AuthState::from_env(Some("  ")), None);
        assert_eq!(AuthState::from_env(Some("")), None);
        assert_eq!(AuthState::from_env(None), None);

        let claimed = |claimed: bool, hash: Option<&str>| StoredConfig {
            claimed,
            token_hash: hash.map(str::to_owned),
            ..StoredConfig::default()
        };
        assert_eq!(
            AuthState::from_stored(&claimed(true, Some("ab"))),
            AuthState::Claim { token_hash: "ab".into() }
        );
        assert_eq!(AuthState::from_stored(&claimed(true, Some(""))), AuthState::Unclaimed);
        assert_eq!(AuthState::from_stored(&claimed(true, None)), AuthState::Unclaimed);
        assert_eq!(AuthState::from_stored(&claimed(false, Some("ab"))), AuthState::Unclaimed);
        assert_eq!(AuthState::from_stored(&StoredConfig::default()), AuthState::Unclaimed);
    }

    #[test]
    fn stored_config_json_shape() {
        let raw = r#"{"claimed":true,"tokenHash":"ab","updateProvider":"github","updateRepoUrl":null,"updateRepoBranch":"main"}"#;
        let config: StoredConfig = serde_json::from_str(raw).unwrap();
        assert!(config.claimed);
        assert_eq!(config.token_hash.as_deref(), Some("ab"));
        assert_eq!(config.update_repo_url, None);
        assert_eq!(serde_json::to_string(&config).unwrap(), raw);
        let partial: StoredConfig = serde_json::from_str(r#"{"claimed":false}"#).unwrap();
        assert_eq!(partial, StoredConfig::default());
        assert!(!format!("{config:?}").contains("\"ab\""));
        assert_eq!(format!("{:?}", env_state()), "AuthState::Env");
    }

    #[test]
    fn debug_output_never_shows_a_credential() {
        let secret = "s3cr3t-credential-0123456789abcdef";
        let credentials = SocketCredentials {
            ticket: Some(secret),
            authorization: Some(&format!("Bearer {secret}")),
            token: Some(secret),
        };
        let claim = super::super::config_rules::ClaimRequest {
            token: secret.to_owned(),
            vault_id: Some("v".into()),
        };
        let ticket = super::super::ticket::IssuedTicket {
            ticket: secret.to_owned(),
            expires_at: 1,
            ttl_ms: 2,
        };
        for shown in [
            format!("{credentials:?}"),
            format!("{claim:?}"),
            format!("{ticket:?}"),
            format!("{:?}", AuthState::Env { token: secret.to_owned() }),
            format!("{:?}", AuthState::Claim { token_hash: secret.to_owned() }),
            format!("{:?}", TicketKeys { ours: [b'k'; 32], typescript: secret.as_bytes() }),
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(format!("{credentials:?}").contains("<redacted>"), "presence is still visible");
    }

    #[test]
    fn stored_config_read_rules() {
        let raw = |claimed, hash: &str, provider: &str, url: &str| StoredConfig {
            claimed,
            token_hash: Some(hash.to_owned()),
            update_provider: Some(provider.to_owned()),
            update_repo_url: Some(url.to_owned()),
            update_repo_branch: None,
        };
        let cases = [
            (raw(true, "ab", "gitlab", "u"), (true, Some("ab"), Some("gitlab"), Some("u"))),
            (raw(true, "", "GitHub", ""), (false, None, None, None)),
            (raw(false, "ab", "bitbucket", "u"), (false, Some("ab"), None, Some("u"))),
        ];
        for (stored, (claimed, hash, provider, url)) in cases {
            let got = stored.normalized();
            assert_eq!(got.claimed, claimed);
            assert_eq!(got.token_hash.as_deref(), hash);
            assert_eq!(got.update_provider.as_deref(), provider);
            assert_eq!(got.update_repo_url.as_deref(), url);
        }
    }

    #[test]
    fn bearer_parsing() {
        let cases: [(Option<&str>, Option<&str>); 9] = [
            (None, None),
            (Some("Bearer abc"), Some("abc")),
            (Some("Bearer   abc  "), Some("abc")),
            (Some("Bearer "), None),
            (Some("Bearer    "), None),
            (Some("bearer abc"), None),
            (Some("BEARER abc"), None),
            (Some("Bearerabc"), None),
            (Some("Basic abc"), None),
        ];
        for (header, want) in cases {
            assert_eq!(bearer_token(header), want, "{header:?}");
        }
    }

    #[test]
    fn token_checks() {
        let cases = [
            (env_state(), Some(TOKEN), true),
            (env_state(), Some("wrong"), false),
            (env_state(), Some(""), false),
            (env_state(), None, false),
            (claim_state(), Some(TOKEN), true),
            (claim_state(), Some("wrong"), false),
            (claim_state(), None, false),
            (AuthState::Unclaimed, Some(TOKEN), false),
            // The hash itself is not a token.
            (
                AuthState::Claim { token_hash: token_hash_of(TOKEN) },
                Some(&*token_hash_of(TOKEN)),
                false,
            ),
        ];
        for (state, token, want) in cases {
            assert_eq!(state.accepts(token), want, "{state:?} {token:?}");
        }
    }

    #[test]
    fn http_rejection_order() {
        let bearer = format!("Bearer {TOKEN}");
        let cases = [
            (AuthState::Unclaimed, Some(bearer.as_str()), Err(Denial::Unclaimed)),
            (
                AuthState::Env { token: String::new() },
                Some("Bearer x"),
                Err(Denial::ServerMisconfigured),
            ),
            (env_state(), None, Err(Denial::Unauthorized)),
            (env_state(), Some("Bearer nope"), Err(Denial::Unauthorized)),
            (env_state(), Some(bearer.as_str()), Ok(())),
            (claim_state(), Some(bearer.as_str()), Ok(())),
            (claim_state(), Some(TOKEN), Err(Denial::Unauthorized)),
        ];
        for (state, header, want) in cases {
            assert_eq!(state.authorize_http(header), want, "{state:?} {header:?}");
        }
    }

    #[test]
    fn socket_credential_decision() {
        const NOW: u64 = 1_779_963_072_345;
        let bearer = format!("Bearer {TOKEN}");
        let padded = format!(" {TOKEN}");
        for state in [env_state(), claim_state()] {
            let good = state.issue_ticket("v1", NOW, 60_000, &[7; 16]).unwrap().ticket;
            let creds =
                |ticket, authorization, token| SocketCredentials { ticket, authorization, token };
            let cases = [
                (creds(Some(good.as_str()), None, None), false, Ok(SocketAuth::Ticket)),
                (creds(Some(good.as_str()), None, None), true, Ok(SocketAuth::Ticket)),
                // A bad or empty ticket never falls back to a valid token.
                (
                    creds(Some("bad.ticket"), Some(&bearer), Some(TOKEN)),
                    false,
                    Err(Denial::Unauthorized),
                ),
                (creds(Some(""), None, Some(TOKEN)), false, Err(Denial::Unauthorized)),
                (creds(None, None, Some(TOKEN)), false, Ok(SocketAuth::LegacyToken)),
                (creds(None, Some(&bearer), None), false, Ok(SocketAuth::LegacyToken)),
                // The Bearer header wins over ?token= when present.
                (creds(None, Some(&bearer), Some("wrong")), false, Ok(SocketAuth::LegacyToken)),
                (creds(None, Some("Bearer wrong"), Some(TOKEN)), false, Err(Denial::Unauthorized)),
                // An empty Bearer counts as absent, so ?token= is used.
                (creds(None, Some("Bearer "), Some(TOKEN)), false, Ok(SocketAuth::LegacyToken)),
                // ?token= is not trimmed.
                (creds(None, None, Some(&padded)), false, Err(Denial::Unauthorized)),
                (creds(None, None, Some(TOKEN)), true, Err(Denial::Unauthorized)),
                (creds(None, None, None), false, Err(Denial::Unauthorized)),
            ];
            for (credentials, disabled, want) in cases {
                assert_eq!(
                    state.authorize_socket(&credentials, disabled, "v1", NOW),
                    want,
                    "{state:?} {credentials:?} disabled={disabled}"
                );
            }
            // The ticket names another vault.
            let other = creds(Some(good.as_str()), None, None);
            assert_eq!(state.authorize_socket(&other, false, "v2", NOW), Err(Denial::Unauthorized));
        }
        let any = SocketCredentials { ticket: None, authorization: None, token: Some(TOKEN) };
        assert_eq!(
            AuthState::Unclaimed.authorize_socket(&any, false, "v", 0),
            Err(Denial::Unclaimed)
        );
        let empty_env = AuthState::Env { token: String::new() };
        assert_eq!(
            empty_env.authorize_socket(&any, false, "v", 0),
            Err(Denial::ServerMisconfigured)
        );
    }

    /// A ticket as the TypeScript server signs it (spec 5.5), written from the
    /// spec with the crates directly, not with this server's signing code:
    /// HMAC-SHA256 keyed by the secret's bytes over the ASCII of the
    /// base64url (unpadded) payload.
    fn typescript_ticket(secret: &[u8], vault_id: &str, iat: u64, exp: u64) -> String {
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        use base64::Engine;
        use hmac::{Hmac, Mac};
        let payload = format!(
            r#"{{"v":1,"aud":"yaos-ws","vaultId":"{vault_id}","iat":{iat},"exp":{exp},"nonce":"q83vq83vq83vq83vq83vqw"}}"#
        );
        let encoded = URL_SAFE_NO_PAD.encode(payload);
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret).expect("any key length");
        mac.update(encoded.as_bytes());
        format!("{encoded}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn tickets_the_typescript_server_signed_verify_until_they_expire() {
        use sha2::Digest;
        const NOW: u64 = 1_779_963_072_345;
        // The claim-mode key is the stored tokenHash string: lowercase hex
        // SHA-256 of the token, computed here independently of `token_hash_of`.
        let stored_hash: String =
            sha2::Sha256::digest(TOKEN).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(claim_state(), AuthState::Claim { token_hash: stored_hash.clone() });
        for (state, secret, other_mode_secret) in [
            (env_state(), TOKEN.as_bytes(), stored_hash.as_bytes()),
            (claim_state(), stored_hash.as_bytes(), TOKEN.as_bytes()),
        ] {
            let keys = state.ticket_keys().expect("a signing mode");
            let verify = |ticket: &str, vault: &str, now| {
                let core = ticket::verify_either(&keys, ticket, vault, now);
                // The socket decision agrees with the core's.
                let creds = SocketCredentials { ticket: Some(ticket), ..Default::default() };
                let socket = state.authorize_socket(&creds, true, vault, now);
                let want = match core {
                    Ok(Signer::Ours) => Ok(SocketAuth::Ticket),
                    Ok(Signer::TypeScript) => Ok(SocketAuth::TypeScriptTicket),
                    Err(_) => Err(Denial::Unauthorized),
                };
                assert_eq!(socket, want, "{state:?}");
                core
            };
            let ts = typescript_ticket(secret, "v1", NOW - 1_000, NOW + 300_000);
            assert_eq!(verify(&ts, "v1", NOW), Ok(Signer::TypeScript), "{state:?}");
            assert_eq!(verify(&ts, "v1", NOW + 299_999), Ok(Signer::TypeScript));
            assert_eq!(verify(&ts, "v1", NOW + 300_000), Err(TicketError::Expired));
            assert_eq!(verify(&ts, "v2", NOW), Err(TicketError::VaultMismatch));
            let expired = typescript_ticket(secret, "v1", NOW - 301_000, NOW - 1_000);
            assert_eq!(verify(&expired, "v1", NOW), Err(TicketError::Expired));
            for wrong in [b"another-secret-0123456789abcdef".as_slice(), other_mode_secret] {
                let forged = typescript_ticket(wrong, "v1", NOW, NOW + 300_000);
                assert_eq!(verify(&forged, "v1", NOW), Err(TicketError::Signature), "{state:?}");
            }
            // A longer life under the original signature.
            let longer = typescript_ticket(secret, "v1", NOW - 1_000, NOW + 9_000_000);
            let (payload, _) = longer.split_once('.').expect("a dot");
            let (_, signature) = ts.split_once('.').expect("a dot");
            let tampered = format!("{payload}.{signature}");
            assert_eq!(verify(&tampered, "v1", NOW), Err(TicketError::Signature));
            // Our own tickets still verify, under our key, and are what we issue.
            let ours = state.issue_ticket("v1", NOW, 60_000, &[9; 16]).expect("signs").ticket;
            assert_eq!(verify(&ours, "v1", NOW), Ok(Signer::Ours));
            assert_eq!(verify(&ours, "v1", NOW + 60_000), Err(TicketError::Expired));
            assert_eq!(ticket::verify(secret, &ours, "v1", NOW), Err(TicketError::Signature));
        }
    }

    #[test]
    fn unclaimed_cannot_sign() {
        let err = AuthState::Unclaimed.issue_ticket("v", 0, 1000, &[0; 16]).unwrap_err();
        assert_eq!(err.reply().status, 500);
        assert_eq!(err.to_string(), "cannot sign ticket: server is unclaimed");
    }

    #[test]
    fn legacy_flag() {
        assert!(!legacy_ws_token_disabled(None));
        assert!(!legacy_ws_token_disabled(Some("")));
        assert!(legacy_ws_token_disabled(Some(" ")));
        assert!(legacy_ws_token_disabled(Some("0")));
        assert!(legacy_ws_token_disabled(Some("true")));
    }
}
