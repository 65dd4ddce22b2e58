//! Who may pass the Worker: the auth state (env token or stored claim), the
//! Bearer check of spec 5.3, and this isolate's throttle on failed
//! authentication (`edge::auth_throttle`), shared by every route that takes a
//! credential.

use crate::edge::auth::{AuthState, Denial};
use crate::edge::auth_throttle::{client_key, AuthThrottle};
use crate::edge::http::{EdgeError, Reply};
use worker::*;

use super::config_cache::stored_config;
use super::runtime::{env_string, now_ms};

/// The auth state: env mode from `SYNC_TOKEN`, else the (cached) stored claim.
pub async fn auth_state(env: &Env) -> Result<AuthState> {
    if let Some(state) = AuthState::from_env(env_string(env, "SYNC_TOKEN").as_deref()) {
        warn_once_if_weak(&state);
        return Ok(state);
    }
    Ok(AuthState::from_stored(&stored_config(env).await?))
}

/// Logs the weak-token warning once per isolate (the home page shows it too).
fn warn_once_if_weak(state: &AuthState) {
    thread_local!(static WARNED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    if let Some(warning) = state.weak_token_warning() {
        if !WARNED.with(|w| w.replace(true)) {
            console_warn!("{warning}");
        }
    }
}

pub fn header(req: &Request, name: &str) -> Option<String> {
    req.headers().get(name).ok().flatten()
}

thread_local! {
    /// This isolate's failed-authentication counts (bounded; see the module).
    static AUTH_THROTTLE: std::cell::RefCell<AuthThrottle> = std::cell::RefCell::default();
}

/// The client address failures are counted under.
fn client_of(req: &Request) -> String {
    client_key(header(req, "CF-Connecting-IP").as_deref())
}

/// The 429 for a client past its failed-authentication budget, if it is.
pub fn throttled(req: &Request) -> Option<Reply> {
    let client = client_of(req);
    let wait = AUTH_THROTTLE.with(|t| t.borrow().check(&client, now_ms())).err()?;
    console_warn!("authentication throttled for {wait}s");
    Some(EdgeError::TooManyAttempts.reply().with_header("Retry-After", wait.to_string()))
}

/// Counts a presented credential that was refused.
pub fn count_failure(req: &Request) {
    let client = client_of(req);
    AUTH_THROTTLE.with(|t| t.borrow_mut().record_failure(&client, now_ms()));
}

/// The Bearer check of spec 5.3: `None` when authorized, otherwise the
/// rejection to answer (logged, never traced, no Durable Object touched).
/// A client past its failed-authentication budget gets 429 before its
/// credential is looked at; a wrong credential counts against it.
pub fn bearer_rejection(state: &AuthState, req: &Request, route: &str) -> Option<Reply> {
    if let Some(reply) = throttled(req) {
        return Some(reply);
    }
    let authorization = header(req, "Authorization");
    let denial = state.authorize_http(authorization.as_deref()).err()?;
    if denial == Denial::Unauthorized && authorization.is_some_and(|a| !a.trim().is_empty()) {
        count_failure(req);
    }
    console_warn!("{route} rejected: {}", EdgeError::from(denial));
    Some(EdgeError::from(denial).reply())
}
