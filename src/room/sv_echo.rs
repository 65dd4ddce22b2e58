//! The SV echo (spec 8.6): a text frame telling a client which state vector
//! the server holds, so the plugin can mark local edits as server-applied.
//!
//! Sending goes through a closure so the guards and counters are testable
//! without a socket.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;

/// y-partyserver's prefix for custom text messages.
pub const CUSTOM_MESSAGE_PREFIX: &str = "__YPS:";
pub const SV_ECHO_TYPE: &str = "yaos/sv-echo";
pub const SV_ECHO_SCHEMA: u32 = 1;
/// The plugin rejects longer `sv` strings, so the server does not send them.
pub const MAX_SV_ECHO_BASE64_LEN: usize = 65536;

/// Why an echo is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SvEchoKind {
    /// Once per connection, right after the connect frames.
    Baseline,
    /// After every update-bearing frame.
    PostApply,
}

/// Why an echo was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SvEchoFailure {
    NotOpen,
    Oversize,
    SendFailed,
}

/// The outcome of one attempt. `bytes` is the UTF-8 length of the whole
/// frame (0 when the socket was not open, as nothing was built).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SvEchoResult {
    pub kind: SvEchoKind,
    pub bytes: usize,
    pub failure: Option<SvEchoFailure>,
}

#[derive(Serialize)]
struct SvEchoMessage<'a> {
    r#type: &'a str,
    schema: u32,
    sv: &'a str,
}

/// The echo frame for an encoded state vector, e.g. `01 07 06` gives
/// `__YPS:{"type":"yaos/sv-echo","schema":1,"sv":"AQcG"}`.
pub fn sv_echo_frame(state_vector: &[u8]) -> String {
    frame_for_base64(&STANDARD.encode(state_vector))
}

fn frame_for_base64(sv: &str) -> String {
    let message = SvEchoMessage { r#type: SV_ECHO_TYPE, schema: SV_ECHO_SCHEMA, sv };
    // Serializing three plain fields cannot fail.
    let json = serde_json::to_string(&message).unwrap_or_default();
    format!("{CUSTOM_MESSAGE_PREFIX}{json}")
}

/// Sends an echo of `state_vector` through `send` if the socket is open and
/// the vector is small enough.
pub fn try_send_sv_echo<E>(
    socket_open: bool,
    state_vector: &[u8],
    kind: SvEchoKind,
    send: impl FnOnce(&str) -> Result<(), E>,
) -> SvEchoResult {
    if !socket_open {
        return SvEchoResult { kind, bytes: 0, failure: Some(SvEchoFailure::NotOpen) };
    }
    let sv = STANDARD.encode(state_vector);
    let frame = frame_for_base64(&sv);
    let bytes = frame.len();
    let failure = if sv.len() > MAX_SV_ECHO_BASE64_LEN {
        Some(SvEchoFailure::Oversize)
    } else {
        send(&frame).err().map(|_| SvEchoFailure::SendFailed)
    };
    SvEchoResult { kind, bytes, failure }
}

/// Echo counters over one activation, serialized as the debug JSON's `svEcho`.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SvEchoCounters {
    pub baseline_sent: u64,
    pub post_apply_sent: u64,
    pub failed: u64,
    /// Bytes of delivered echoes only.
    pub bytes_total: u64,
    pub bytes_max: u64,
    pub failure_not_open: u64,
    pub failure_oversize: u64,
    pub failure_send_failed: u64,
}

impl SvEchoCounters {
    pub fn record(&mut self, result: &SvEchoResult) {
        match result.failure {
            None => {
                match result.kind {
                    SvEchoKind::Baseline => self.baseline_sent += 1,
                    SvEchoKind::PostApply => self.post_apply_sent += 1,
                }
                let bytes = result.bytes as u64;
                self.bytes_total += bytes;
                self.bytes_max = self.bytes_max.max(bytes);
            }
            Some(failure) => {
                self.failed += 1;
                *match failure {
                    SvEchoFailure::NotOpen => &mut self.failure_not_open,
                    SvEchoFailure::Oversize => &mut self.failure_oversize,
                    SvEchoFailure::SendFailed => &mut self.failure_send_failed,
                } += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"__YPS:{"type":"yaos/sv-echo","schema":1,"sv":"AQcG"}"#;

    fn send_ok(sent: &mut Vec<String>) -> impl FnOnce(&str) -> Result<(), ()> + '_ {
        move |frame| {
            sent.push(frame.to_owned());
            Ok(())
        }
    }

    #[test]
    fn frame_matches_spec_example() {
        assert_eq!(sv_echo_frame(&[0x01, 0x07, 0x06]), EXAMPLE);
        // Standard alphabet with padding, as btoa produces.
        assert_eq!(
            sv_echo_frame(&[0xfb, 0xff]),
            r#"__YPS:{"type":"yaos/sv-echo","schema":1,"sv":"+/8="}"#
        );
    }

    #[test]
    fn sends_and_counts_bytes() {
        let mut sent = Vec::new();
        let mut counters = SvEchoCounters::default();
        let result = try_send_sv_echo(true, &[1, 7, 6], SvEchoKind::Baseline, send_ok(&mut sent));
        assert_eq!(
            result,
            SvEchoResult { kind: SvEchoKind::Baseline, bytes: EXAMPLE.len(), failure: None }
        );
        counters.record(&result);
        let result = try_send_sv_echo(true, &[0], SvEchoKind::PostApply, send_ok(&mut sent));
        counters.record(&result);
        assert_eq!(sent[0], EXAMPLE);
        assert_eq!(counters.baseline_sent, 1);
        assert_eq!(counters.post_apply_sent, 1);
        assert_eq!(counters.bytes_total, (EXAMPLE.len() + sent[1].len()) as u64);
        assert_eq!(counters.bytes_max, EXAMPLE.len() as u64);
    }

    #[test]
    fn guards_count_failures_without_sending() {
        let mut sent = Vec::new();
        let mut counters = SvEchoCounters::default();

        let closed = try_send_sv_echo(false, &[0], SvEchoKind::PostApply, send_ok(&mut sent));
        assert_eq!(closed.failure, Some(SvEchoFailure::NotOpen));
        assert_eq!(closed.bytes, 0);
        counters.record(&closed);

        // 49155 bytes give 65540 base64 characters; 49152 give exactly 65536.
        let at_limit =
            try_send_sv_echo(true, &[0; 49152], SvEchoKind::PostApply, send_ok(&mut sent));
        assert_eq!(at_limit.failure, None);
        let big = try_send_sv_echo(true, &[0; 49155], SvEchoKind::PostApply, |_| Err::<(), ()>(()));
        assert_eq!(big.failure, Some(SvEchoFailure::Oversize));
        assert!(big.bytes > 65540);
        counters.record(&big);

        let broken =
            try_send_sv_echo(true, &[0], SvEchoKind::Baseline, |_| Err::<(), &str>("closed"));
        assert_eq!(broken.failure, Some(SvEchoFailure::SendFailed));
        counters.record(&broken);

        assert_eq!(sent.len(), 1);
        assert_eq!(
            serde_json::to_string(&counters).unwrap(),
            r#"{"baselineSent":0,"postApplySent":0,"failed":3,"bytesTotal":0,"bytesMax":0,"failureNotOpen":1,"failureOversize":1,"failureSendFailed":1}"#
        );
    }
}
