//! The answer to a sync socket's `permessage-deflate` offer (RFC 7692), when
//! the operator caps the server's compression window.
//!
//! With no `Sec-WebSocket-Extensions` on the 101, the Workers runtime accepts
//! a client's offer itself, with a 32 KiB window (15 bits), and compresses
//! every message on the thread that runs the room: a new device's first sync
//! of a large vault holds the other clients' edits while zlib runs. A smaller
//! window trades bytes on the wire for that time. Measured with zlib at the
//! runtime's level (`engineering/benchmarks.md`, "Compression window"): on
//! real Markdown a 4 KiB window (12 bits) compresses 1.5 times as fast and
//! sends 17% more bytes; on the benchmark's small-vocabulary notes, 2.9
//! times as fast for 18% more. Clients on slow links lose more to the bytes
//! than the server saves, so the default is the runtime's answer, and
//! `YAOS_DEFLATE_WINDOW_BITS` (8 to 15) sets the cap. RFC 7692 7.1.2.1 lets a
//! server add `server_max_window_bits` to any offer.

/// The operator setting: the largest LZ77 window, as a power of two, the
/// server compresses sync messages with. Unset: the runtime's default.
pub const WINDOW_BITS_VAR: &str = "YAOS_DEFLATE_WINDOW_BITS";

/// The window range RFC 7692 allows either peer to ask for.
pub const MIN_WINDOW_BITS: u8 = 8;
pub const MAX_WINDOW_BITS: u8 = 15;

/// `YAOS_DEFLATE_WINDOW_BITS` read: `Ok(None)` when unset or empty, an error
/// naming the accepted range for anything else that is not 8 to 15.
pub fn window_bits_setting(value: Option<&str>) -> Result<Option<u8>, String> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    match value.parse::<u8>() {
        Ok(bits) if valid_bits(bits) => Ok(Some(bits)),
        _ => Err(format!(
            "{WINDOW_BITS_VAR}={value:?} ignored: expected {MIN_WINDOW_BITS} to {MAX_WINDOW_BITS}"
        )),
    }
}

fn valid_bits(bits: u8) -> bool {
    (MIN_WINDOW_BITS..=MAX_WINDOW_BITS).contains(&bits)
}

/// The `Sec-WebSocket-Extensions` value that accepts `offer` (the request's
/// header) with the server's window capped at `max_bits`, or `None` to leave
/// the answer to the runtime: no usable `permessage-deflate` offer (no
/// header, another extension, or a parameter RFC 7692 does not define or
/// gives an invalid value, which makes the offer one to decline).
///
/// The first `permessage-deflate` offer wins. Its `server_no_context_takeover`
/// and `client_no_context_takeover` are accepted, a smaller
/// `server_max_window_bits` it asks for is honoured, and a
/// `client_max_window_bits` is answered with the value it names (15 when it
/// names none), as the runtime itself answers.
pub fn deflate_answer(offer: Option<&str>, max_bits: u8) -> Option<String> {
    let offer = offer?.split(',').map(str::trim).find(|o| {
        let name = o.split(';').next().unwrap_or_default().trim();
        name.eq_ignore_ascii_case("permessage-deflate")
    })?;
    let mut server_bits = max_bits;
    let mut client_bits = None;
    let mut answer = String::from("permessage-deflate");
    let mut seen: Vec<String> = Vec::new();
    for param in offer.split(';').skip(1).map(str::trim).filter(|p| !p.is_empty()) {
        let (name, value) = match param.split_once('=') {
            Some((n, v)) => (n.trim().to_ascii_lowercase(), Some(v.trim().trim_matches('"'))),
            None => (param.to_ascii_lowercase(), None),
        };
        if seen.contains(&name) {
            return None; // RFC 7692 7.1: a repeated parameter invalidates the offer
        }
        let bits = || value?.parse::<u8>().ok().filter(|b| valid_bits(*b));
        match (name.as_str(), value) {
            ("server_no_context_takeover" | "client_no_context_takeover", None) => {
                answer.push_str("; ");
                answer.push_str(&name);
            }
            ("server_max_window_bits", Some(_)) => server_bits = server_bits.min(bits()?),
            ("client_max_window_bits", None) => client_bits = Some(MAX_WINDOW_BITS),
            ("client_max_window_bits", Some(_)) => client_bits = Some(bits()?),
            _ => return None,
        }
        seen.push(name);
    }
    answer.push_str(&format!("; server_max_window_bits={server_bits}"));
    if let Some(bits) = client_bits {
        answer.push_str(&format!("; client_max_window_bits={bits}"));
    }
    Some(answer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_is_8_to_15_or_unset() {
        assert_eq!(window_bits_setting(None), Ok(None));
        assert_eq!(window_bits_setting(Some(" ")), Ok(None));
        assert_eq!(window_bits_setting(Some("12")), Ok(Some(12)));
        for bad in ["7", "16", "twelve", "-1", "12.5"] {
            let error = window_bits_setting(Some(bad)).unwrap_err();
            assert!(error.contains(WINDOW_BITS_VAR) && error.contains("8 to 15"), "{error}");
        }
    }

    #[test]
    fn a_plain_offer_gets_the_capped_window() {
        // What `ws` and browsers send.
        let answer = deflate_answer(Some("permessage-deflate; client_max_window_bits"), 12);
        assert_eq!(
            answer.as_deref(),
            Some("permessage-deflate; server_max_window_bits=12; client_max_window_bits=15")
        );
        let answer = deflate_answer(Some("permessage-deflate"), 10);
        assert_eq!(answer.as_deref(), Some("permessage-deflate; server_max_window_bits=10"));
    }

    #[test]
    fn what_the_client_asked_for_is_kept() {
        let offer = "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                     server_max_window_bits=10; client_max_window_bits=11";
        assert_eq!(
            deflate_answer(Some(offer), 12).as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; client_no_context_takeover; \
                 server_max_window_bits=10; client_max_window_bits=11"
            )
        );
        // A window larger than the cap is capped; a quoted value is a value.
        let quoted = "permessage-deflate; server_max_window_bits=\"15\"";
        assert_eq!(
            deflate_answer(Some(quoted), 12).as_deref(),
            Some("permessage-deflate; server_max_window_bits=12")
        );
        // The first permessage-deflate offer of several.
        let several = "x-other, permessage-deflate; server_max_window_bits=9, permessage-deflate";
        assert_eq!(
            deflate_answer(Some(several), 12).as_deref(),
            Some("permessage-deflate; server_max_window_bits=9")
        );
    }

    #[test]
    fn no_usable_offer_is_left_to_the_runtime() {
        for offer in [
            None,
            Some(""),
            Some("x-webkit-deflate-frame"),
            Some("permessage-deflate; server_max_window_bits=7"),
            Some("permessage-deflate; server_max_window_bits=16"),
            Some("permessage-deflate; server_max_window_bits"),
            Some("permessage-deflate; client_max_window_bits=abc"),
            Some("permessage-deflate; server_no_context_takeover=1"),
            Some("permessage-deflate; unknown_parameter"),
            Some("permessage-deflate; server_no_context_takeover; server_no_context_takeover"),
        ] {
            assert_eq!(deflate_answer(offer, 12), None, "{offer:?}");
        }
    }
}
