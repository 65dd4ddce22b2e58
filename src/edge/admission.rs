//! WebSocket admission on `/vault/sync/<id>` (spec 5.6) and the rejection
//! protocol (spec 5.7).
//!
//! The Worker calls [`admit`] (auth, then the client schema) and forwards the
//! admitted client schema to the vault object, which calls
//! [`check_room_schema`] with its loaded document's schema before it accepts
//! the socket (`engineering/design.md`, "departs on purpose"). A
//! [`Rejection`] becomes either
//! a JSON reply or, for a real WebSocket upgrade, two error frames and a 1008
//! close, because only that stops the plugin from reconnecting (spec 0.5).

use serde_json::{Map, Value};

use super::auth::{AuthState, Denial, SocketAuth, SocketCredentials};
use super::http::{EdgeError, Reply};
use super::js;
use crate::room::limits::LimitExceeded;

/// The schema assumed for clients that send none.
pub const LEGACY_CLIENT_SCHEMA_VERSION: i64 = 1;
/// WebSocket close code "policy violation", used for every rejection.
pub const CLOSE_CODE: u16 = 1008;
/// Prefix that y-partyserver clients read as a JSON control message.
pub const CONTROL_PREFIX: &str = "__YPS:";

/// What the sync request carries: credentials plus the first `schemaVersion`
/// and `schema` query values (`None` when the parameter is absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct SocketRequest<'a> {
    pub credentials: SocketCredentials<'a>,
    pub schema_version: Option<&'a str>,
    pub schema: Option<&'a str>,
}

/// A request that passed steps 1 and 2; the room schema check remains.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    pub auth: SocketAuth,
    pub client_schema_version: i64,
}

/// Why the schema check failed; serialized as the `reason` detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaReason {
    InvalidClientSchema,
    ClientSchemaOlderThanRoom,
}

impl SchemaReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SchemaReason::InvalidClientSchema => "invalid_client_schema",
            SchemaReason::ClientSchemaOlderThanRoom => "client_schema_older_than_room",
        }
    }
}

/// A refused socket. Only `update_required` carries details.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    Denied(Denial),
    UpdateRequired {
        reason: SchemaReason,
        client_schema_version: Option<i64>,
        room_schema_version: Option<i64>,
    },
}

impl From<Denial> for Rejection {
    fn from(denial: Denial) -> Self {
        Rejection::Denied(denial)
    }
}

impl From<Rejection> for EdgeError {
    fn from(rejection: Rejection) -> Self {
        match rejection {
            Rejection::Denied(denial) => denial.into(),
            Rejection::UpdateRequired { .. } => EdgeError::UpdateRequired,
        }
    }
}

impl Rejection {
    /// The protocol's error code.
    pub fn code(&self) -> String {
        EdgeError::from(*self).to_string()
    }

    /// The answer to a request that is not a WebSocket upgrade: `{"error":code}`
    /// (no details) with 401, 426 or 503, and CORS.
    pub fn http_reply(&self) -> Reply {
        EdgeError::from(*self).reply().with_cors()
    }

    /// `{"type":"error","code":…}` plus, for `update_required`, the details in
    /// the order reason, clientSchemaVersion, roomSchemaVersion.
    pub fn error_json(&self) -> String {
        let mut object = Map::new();
        object.insert("type".into(), "error".into());
        object.insert("code".into(), self.code().into());
        if let Rejection::UpdateRequired { reason, client_schema_version, room_schema_version } =
            self
        {
            object.insert("reason".into(), reason.as_str().into());
            object.insert("clientSchemaVersion".into(), (*client_schema_version).into());
            object.insert("roomSchemaVersion".into(), (*room_schema_version).into());
        }
        Value::Object(object).to_string()
    }

    /// The two text frames to send, in order: plain JSON for generic clients,
    /// then the `__YPS:` copy the plugin acts on.
    pub fn frames(&self) -> [String; 2] {
        let json = self.error_json();
        let prefixed = format!("{CONTROL_PREFIX}{json}");
        [json, prefixed]
    }

    /// The close reason sent with [`CLOSE_CODE`].
    pub fn close_reason(&self) -> &'static str {
        match self {
            Rejection::Denied(Denial::Unauthorized) => "unauthorized",
            Rejection::Denied(Denial::Unclaimed) => "server unclaimed",
            Rejection::Denied(Denial::ServerMisconfigured) => "server misconfigured",
            Rejection::UpdateRequired { .. } => "update required",
        }
    }
}

/// Whether the request asks for a WebSocket (lowercased `Upgrade` header).
pub fn is_websocket_upgrade(upgrade: Option<&str>) -> bool {
    upgrade.is_some_and(|value| value.to_lowercase() == "websocket")
}

/// Steps 1 and 2 of spec 5.6, in that order: auth failures win over a bad schema.
pub fn admit(
    state: &AuthState,
    request: &SocketRequest<'_>,
    legacy_token_disabled: bool,
    vault_id: &str,
    now_ms: u64,
) -> Result<Admission, Rejection> {
    let auth =
        state.authorize_socket(&request.credentials, legacy_token_disabled, vault_id, now_ms)?;
    let client_schema_version = client_schema_version(request.schema_version, request.schema)?;
    Ok(Admission { auth, client_schema_version })
}

/// Step 2: `schemaVersion`, else `schema`; absent or blank is the legacy 1;
/// otherwise `Number()` must give an integer ≥ 0 ("3", " 3 ", "3.0", "1e1").
pub fn client_schema_version(
    schema_version: Option<&str>,
    schema: Option<&str>,
) -> Result<i64, Rejection> {
    let Some(raw) = schema_version.or(schema).filter(|raw| !js::trim(raw).is_empty()) else {
        return Ok(LEGACY_CLIENT_SCHEMA_VERSION);
    };
    match js::integer(raw) {
        // `as` saturates, which keeps every comparison with a room schema exact.
        Some(n) if n >= 0.0 => Ok(n as i64),
        _ => Err(Rejection::UpdateRequired {
            reason: SchemaReason::InvalidClientSchema,
            client_schema_version: None,
            room_schema_version: None,
        }),
    }
}

/// Step 3: a client older than a known room schema must update. A newer client
/// is admitted; an unknown room schema (`None`) fails open.
pub fn check_room_schema(client: i64, room: Option<i64>) -> Result<(), Rejection> {
    match room.filter(|&room| room <= ROOM_SCHEMA_CEILING) {
        Some(room) if client < room => Err(Rejection::UpdateRequired {
            reason: SchemaReason::ClientSchemaOlderThanRoom,
            client_schema_version: Some(client),
            room_schema_version: Some(room),
        }),
        _ => Ok(()),
    }
}

/// Room schema versions above this are ignored by the admission check (and
/// logged by the caller): any writer can set `sys.schemaVersion`, and a huge
/// value would otherwise lock every device out with `update_required`. The
/// plugin is at 3 and moves one step per breaking change; 100 leaves room
/// for every plausible release while refusing the lockout.
pub const ROOM_SCHEMA_CEILING: i64 = 100;

/// The JSON error of a socket refused because its room is at
/// [`crate::room::limits::RoomLimits::max_sockets`].
pub const ROOM_FULL_ERROR: &str = "room_full";
/// The refusal's status: the server is there, the room is busy for now.
pub const ROOM_FULL_STATUS: u16 = 503;
/// The refusal's `Retry-After`, in seconds. The y-partyserver provider
/// ignores the header, but a refused upgrade (no `open` event) counts as an
/// unsuccessful reconnect and grows its backoff, where an accepted socket
/// closed at once reset it; generic clients get a sensible wait.
pub const ROOM_FULL_RETRY_AFTER_SECS: u32 = 10;

/// The plain HTTP answer to a socket upgrade a full room refuses, before any
/// `101`: `503 {"error":"room_full","message":…}` with `Retry-After`. Not a
/// spec 5.7 rejection: those stop the plugin for good, a full room must not.
pub fn room_full_reply(why: &LimitExceeded) -> Reply {
    let body = serde_json::json!({"error": ROOM_FULL_ERROR, "message": why.to_string()});
    Reply::json(ROOM_FULL_STATUS, body)
        .with_header("Retry-After", ROOM_FULL_RETRY_AFTER_SECS.to_string())
}

/// Whether a room schema version is one the admission check ignores.
pub fn implausible_room_schema(room: Option<i64>) -> bool {
    room.is_some_and(|room| room > ROOM_SCHEMA_CEILING)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::edge::http::Body;

    fn update_required(reason: SchemaReason, client: Option<i64>, room: Option<i64>) -> Rejection {
        Rejection::UpdateRequired {
            reason,
            client_schema_version: client,
            room_schema_version: room,
        }
    }

    #[test]
    fn client_schema_table() {
        let invalid = Err(update_required(SchemaReason::InvalidClientSchema, None, None));
        let cases = [
            (None, None, Ok(1)),
            (Some(""), None, Ok(1)),
            (Some("   "), Some("5"), Ok(1)),
            (None, Some("2"), Ok(2)),
            (Some("3"), Some("1"), Ok(3)),
            (Some(" 3 "), None, Ok(3)),
            (Some("3.0"), None, Ok(3)),
            (Some("1e1"), None, Ok(10)),
            (Some("0x3"), None, Ok(3)),
            (Some("0"), None, Ok(0)),
            (Some("-0"), None, Ok(0)),
            (Some("3.5"), None, invalid),
            (Some("-1"), None, invalid),
            (Some("abc"), None, invalid),
            (Some("Infinity"), None, invalid),
            (None, Some("x"), invalid),
        ];
        for (schema_version, schema, want) in cases {
            assert_eq!(
                client_schema_version(schema_version, schema),
                want,
                "{schema_version:?} {schema:?}"
            );
        }
        // A 20,000-digit value is Infinity, not an integer.
        assert_eq!(client_schema_version(Some(&"9".repeat(20_000)), None), invalid);
    }

    #[test]
    fn a_full_room_answers_503_room_full_with_retry_after() {
        let reply = room_full_reply(&LimitExceeded::TooManySockets { open: 3, limit: 3 });
        assert_eq!(reply.status, 503);
        assert_eq!(reply.header("Retry-After"), Some("10"));
        let Body::Json(body) = &reply.body else { panic!("a JSON body") };
        assert_eq!(body["error"], "room_full");
        assert_eq!(body["message"], "the vault already has 3 open connections (limit 3)");
    }

    #[test]
    fn room_schema_table() {
        let older =
            |c, r| Err(update_required(SchemaReason::ClientSchemaOlderThanRoom, Some(c), Some(r)));
        let cases = [
            (3, None, Ok(())),
            (3, Some(3), Ok(())),
            (3, Some(2), Ok(())),
            (2, Some(3), older(2, 3)),
            (1, Some(3), older(1, 3)),
            (3, Some(100), older(3, 100)),
            // A writer set an absurd schema: ignored, nobody is locked out.
            (3, Some(101), Ok(())),
            (3, Some(9_007_199_254_740_991), Ok(())),
        ];
        for (client, room, want) in cases {
            assert_eq!(check_room_schema(client, room), want, "{client} {room:?}");
        }
        assert!(implausible_room_schema(Some(101)));
        assert!(!implausible_room_schema(Some(100)));
        assert!(!implausible_room_schema(None));
    }

    #[test]
    fn admit_checks_auth_before_schema() {
        let state = AuthState::Env { token: "tok".into() };
        let request = |token, schema_version| SocketRequest {
            credentials: SocketCredentials { token, ..Default::default() },
            schema_version,
            schema: None,
        };
        assert_eq!(
            admit(&state, &request(Some("tok"), Some("3")), false, "v", 0),
            Ok(Admission { auth: SocketAuth::LegacyToken, client_schema_version: 3 })
        );
        assert_eq!(
            admit(&state, &request(Some("bad"), Some("x")), false, "v", 0),
            Err(Rejection::Denied(Denial::Unauthorized))
        );
        assert_eq!(
            admit(&state, &request(Some("tok"), Some("x")), false, "v", 0),
            Err(update_required(SchemaReason::InvalidClientSchema, None, None))
        );
    }

    #[test]
    fn websocket_protocol_table() {
        let cases = [
            (
                Rejection::Denied(Denial::Unauthorized),
                401,
                "unauthorized",
                r#"{"type":"error","code":"unauthorized"}"#,
            ),
            (
                Rejection::Denied(Denial::Unclaimed),
                503,
                "server unclaimed",
                r#"{"type":"error","code":"unclaimed"}"#,
            ),
            (
                Rejection::Denied(Denial::ServerMisconfigured),
                503,
                "server misconfigured",
                r#"{"type":"error","code":"server_misconfigured"}"#,
            ),
            (
                update_required(SchemaReason::InvalidClientSchema, None, None),
                426,
                "update required",
                r#"{"type":"error","code":"update_required","reason":"invalid_client_schema","clientSchemaVersion":null,"roomSchemaVersion":null}"#,
            ),
            (
                update_required(SchemaReason::ClientSchemaOlderThanRoom, Some(2), Some(3)),
                426,
                "update required",
                r#"{"type":"error","code":"update_required","reason":"client_schema_older_than_room","clientSchemaVersion":2,"roomSchemaVersion":3}"#,
            ),
        ];
        for (rejection, status, close_reason, frame) in cases {
            assert_eq!(rejection.frames(), [frame.to_owned(), format!("__YPS:{frame}")]);
            assert_eq!(rejection.close_reason(), close_reason);
            let reply = rejection.http_reply();
            assert_eq!(reply.status, status);
            assert_eq!(reply.body, Body::Json(json!({ "error": rejection.code() })));
            assert_eq!(reply.header("Access-Control-Allow-Origin"), Some("*"));
        }
    }

    #[test]
    fn upgrade_header() {
        let cases = [
            (None, false),
            (Some("websocket"), true),
            (Some("WebSocket"), true),
            (Some("h2c"), false),
            (Some(" websocket"), false),
        ];
        for (header, want) in cases {
            assert_eq!(is_websocket_upgrade(header), want, "{header:?}");
        }
    }
}
