//! A throttle on failed authentication, per client address.
//!
//! Every token check (Bearer routes, a socket's legacy token, the
//! capabilities' private fields) answers at once, so without it a client could try tokens as fast
//! as it can send requests. Past [`AUTH_FAILURES_PER_WINDOW`] failures in
//! [`AUTH_FAILURE_WINDOW_MS`] a client is answered 429 with `Retry-After`
//! until its window ends, before its credential is looked at. The table is
//! the Worker isolate's, in memory (each isolate counts for itself, which is
//! enough to turn a guessing rate of thousands a second into a few a
//! minute), and holds at most [`MAX_THROTTLED_CLIENTS`] addresses of at most
//! [`MAX_CLIENT_KEY_BYTES`] bytes: nothing an unauthenticated client sends
//! grows it past that. Only a presented token that is wrong counts: not a
//! missing credential, and not a refused socket ticket (a device reconnecting
//! with an expired ticket is no guesser).

use std::collections::HashMap;

/// Failed authentications one client may make per window: far above what a
/// device with a stale token sends (its reconnects back off), far below a
/// guessing rate.
pub const AUTH_FAILURES_PER_WINDOW: u32 = 30;
/// The window of [`AUTH_FAILURES_PER_WINDOW`], in ms.
pub const AUTH_FAILURE_WINDOW_MS: u64 = 60_000;
/// Client addresses tracked at once; past it, expired windows are dropped,
/// then the oldest window.
pub const MAX_THROTTLED_CLIENTS: usize = 4096;
/// The longest client key kept (an IPv6 address takes at most 45 bytes).
pub const MAX_CLIENT_KEY_BYTES: usize = 64;

/// One client's current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: u64,
    failures: u32,
}

/// The failure counts per client address.
#[derive(Debug, Default)]
pub struct AuthThrottle {
    clients: HashMap<String, Window>,
}

/// The key a client is counted under: its address (Cloudflare's
/// `CF-Connecting-IP`), cut to [`MAX_CLIENT_KEY_BYTES`]; without one (never on
/// Cloudflare), one shared key.
pub fn client_key(address: Option<&str>) -> String {
    let address = address.map(str::trim).filter(|a| !a.is_empty()).unwrap_or("unknown");
    let mut end = address.len().min(MAX_CLIENT_KEY_BYTES);
    while !address.is_char_boundary(end) {
        end -= 1;
    }
    address[..end].to_owned()
}

impl AuthThrottle {
    /// `Err(seconds)` when `client` is throttled at `now_ms`: the wait until
    /// its window ends (at least 1).
    pub fn check(&self, client: &str, now_ms: u64) -> Result<(), u64> {
        match self.clients.get(&client_key(Some(client))) {
            Some(w) if w.failures >= AUTH_FAILURES_PER_WINDOW && !expired(w, now_ms) => {
                let end = w.start_ms.saturating_add(AUTH_FAILURE_WINDOW_MS);
                Err(end.saturating_sub(now_ms).div_ceil(1_000).max(1))
            }
            _ => Ok(()),
        }
    }

    /// Counts one failed authentication of `client` at `now_ms`.
    pub fn record_failure(&mut self, client: &str, now_ms: u64) {
        let client = client_key(Some(client));
        if let Some(w) = self.clients.get_mut(&client) {
            if expired(w, now_ms) {
                *w = Window { start_ms: now_ms, failures: 0 };
            }
            w.failures = w.failures.saturating_add(1);
            return;
        }
        if self.clients.len() >= MAX_THROTTLED_CLIENTS {
            self.clients.retain(|_, w| !expired(w, now_ms));
        }
        if self.clients.len() >= MAX_THROTTLED_CLIENTS {
            let oldest =
                self.clients.iter().min_by_key(|(_, w)| w.start_ms).map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                self.clients.remove(&oldest);
            }
        }
        self.clients.insert(client, Window { start_ms: now_ms, failures: 1 });
    }

    /// Clients tracked.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// Whether `w` ended by `now_ms` (a clock that went back counts as not).
fn expired(w: &Window, now_ms: u64) -> bool {
    now_ms.saturating_sub(w.start_ms) >= AUTH_FAILURE_WINDOW_MS
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_779_963_072_345;

    #[test]
    fn a_client_is_throttled_after_its_failures_until_the_window_ends() {
        let mut t = AuthThrottle::default();
        for i in 0..AUTH_FAILURES_PER_WINDOW {
            assert_eq!(t.check("1.2.3.4", NOW + u64::from(i)), Ok(()));
            t.record_failure("1.2.3.4", NOW + u64::from(i));
        }
        assert_eq!(t.check("1.2.3.4", NOW + 1_000), Err(59));
        assert_eq!(t.check("5.6.7.8", NOW + 1_000), Ok(()), "others are not affected");
        assert_eq!(t.check("1.2.3.4", NOW + AUTH_FAILURE_WINDOW_MS), Ok(()));
        t.record_failure("1.2.3.4", NOW + AUTH_FAILURE_WINDOW_MS);
        assert_eq!(t.check("1.2.3.4", NOW + AUTH_FAILURE_WINDOW_MS), Ok(()), "a new window");
    }

    #[test]
    fn the_table_never_grows_past_its_cap() {
        let mut t = AuthThrottle::default();
        for i in 0..(MAX_THROTTLED_CLIENTS as u64 * 2) {
            t.record_failure(&format!("10.0.{}.{}", i / 256, i % 256), NOW + i);
            assert!(t.len() <= MAX_THROTTLED_CLIENTS);
        }
        // The newest clients are still counted.
        let last = MAX_THROTTLED_CLIENTS as u64 * 2 - 1;
        assert!(t.clients.contains_key(&format!("10.0.{}.{}", last / 256, last % 256)));
    }

    #[test]
    fn client_keys_are_bounded() {
        assert_eq!(client_key(Some(" 2001:db8::1 ")), "2001:db8::1");
        assert_eq!(client_key(None), "unknown");
        assert_eq!(client_key(Some("")), "unknown");
        let long = "é".repeat(100);
        let key = client_key(Some(&long));
        assert!(key.len() <= MAX_CLIENT_KEY_BYTES && long.starts_with(&key));
    }
}
