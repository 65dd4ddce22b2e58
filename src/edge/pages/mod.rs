//! The HTML pages (spec 6.1, 6.2, and this server's vault status page) and
//! the setup QR code.
//!
//! - [`claim_page`]: `GET /` while unclaimed. Its script makes the token and
//!   vault id in the browser, sends `POST /claim`, then walks the user through
//!   installing the plugin and connecting (deep link, QR code, manual fields).
//! - [`running_page`]: `GET /` once claimed (env or claim mode).
//! - [`mobile_setup_page`]: `GET /mobile-setup`, the page the QR code opens on
//!   a phone; it reads the setup values from the URL fragment, which never
//!   reaches the server.
//! - [`status_page`]: `GET /status`, a vault's debug JSON for operators. The
//!   page is static (no request value in it); its script asks for the vault
//!   ID and token, keeps the token in `sessionStorage`, sends it only as a
//!   Bearer header, and renders every value as text. Its policy allows only
//!   its own script and style, by hash.
//!
//! Every page is self-contained: inline CSS and script, no CDN, fonts or
//! images, and a `Content-Security-Policy` that forbids loading anything from
//! elsewhere. The QR code the TypeScript server drew with a CDN script is drawn
//! here, server-side, by [`setup_qr_svg`]; the shell puts it into the claim
//! answer as `setupQrSvg`, next to the `obsidianUrl` of
//! [`super::config_rules::obsidian_setup_url`]. The only request-derived value a
//! page contains is the origin, always through [`escape_html`]; the scripts
//! never log the token.
//!
//! # Templates
//!
//! The markup, CSS and scripts are the files next to this module, compiled in
//! with `include_str!`: `layout.html` is the document shell shared by all
//! pages, `base.css` the shared style, and each page has its `.html` body plus
//! its own `.css` and (claim and mobile setup) `.js`. A template marks each
//! value with a `{{NAME}}` token, which [`render`] fills in one pass: text
//! values are HTML-escaped ([`Slot::Text`]), and only this module's own
//! templates and constants go in verbatim ([`Slot::Markup`]). Inserted values
//! are never scanned for tokens again.

use qrcode::render::svg;
use qrcode::{EcLevel, QrCode};

use super::auth::AuthMode;
use super::http::Reply;
use super::js;

/// The QR code's smallest rendered side in pixels, quiet zone included.
const QR_MIN_SIZE_PX: u32 = 240;

/// Defence in depth for all three pages: inline script and style only, fetches
/// to this origin only (`POST /claim`), nothing loaded from anywhere else.
const CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; \
base-uri 'none'; form-action 'none'";

/// The document shell: `{{CSP}}`, `{{TITLE}}`, `{{BASE_STYLE}}`,
/// `{{PAGE_STYLE}}` and `{{BODY}}`.
const LAYOUT_HTML: &str = include_str!("layout.html");
/// The style every page shares, before its own.
const BASE_CSS: &str = include_str!("base.css");

/// The claim page body: `{{ORIGIN}}` and its `{{SCRIPT}}`.
const CLAIM_HTML: &str = include_str!("claim.html");
const CLAIM_CSS: &str = include_str!("claim.css");
const CLAIM_JS: &str = include_str!("claim.js");

/// The running page body: `{{AUTH_LINE}}`, and `{{R2_CLASS}}` and
/// `{{R2_STATE}}` for the two R2 badges.
const RUNNING_HTML: &str = include_str!("running.html");
const RUNNING_CSS: &str = include_str!("running.css");

/// The mobile setup page body: `{{ORIGIN}}` and its `{{SCRIPT}}`.
const MOBILE_SETUP_HTML: &str = include_str!("mobile_setup.html");
const MOBILE_SETUP_CSS: &str = include_str!("mobile_setup.css");
const MOBILE_SETUP_JS: &str = include_str!("mobile_setup.js");

/// The status page body: its `{{SCRIPT}}` only.
const STATUS_HTML: &str = include_str!("status.html");
const STATUS_CSS: &str = include_str!("status.css");
const STATUS_JS: &str = include_str!("status.js");

/// An HTML page with its policy sent as headers too (a `<meta>` CSP cannot
/// say `frame-ancestors`): never framed, never sniffed, no referrer.
fn page(html: String, csp: &str) -> Reply {
    Reply::html(200, html)
        .with_header("Content-Security-Policy", format!("{csp}; frame-ancestors 'none'"))
        .with_header("X-Frame-Options", "DENY")
        .with_header("X-Content-Type-Options", "nosniff")
        .with_header("Referrer-Policy", "no-referrer")
}

/// `GET /` while unclaimed: the "Claim YAOS Server" page for `origin`.
pub fn claim_page(origin: &str) -> Reply {
    let body =
        render(CLAIM_HTML, &[("ORIGIN", Slot::Text(origin)), ("SCRIPT", Slot::Markup(CLAIM_JS))]);
    page(layout("Claim YAOS Server", CSP, CLAIM_CSS, &body), CSP)
}

/// `GET /` once claimed: "YAOS Server Running", naming the auth mode, with
/// the attachment and snapshot badges on exactly when R2 is bound.
/// `warning` (a weak `SYNC_TOKEN`, see `ticket_key::weak_token_page_warning`) is
/// shown as an alert when present.
pub fn running_page(mode: AuthMode, r2_bound: bool, warning: Option<&str>) -> Reply {
    let auth_line = match mode {
        AuthMode::Env => "Secured by an environment token.",
        AuthMode::Claim => "This server has been claimed and is locked.",
        // Not served by the router (an unclaimed server shows the claim page).
        AuthMode::Unclaimed => "This server has not been claimed yet.",
    };
    let (class, state) = if r2_bound { ("on", "ON") } else { ("off", "OFF") };
    let body = render(
        RUNNING_HTML,
        &[
            ("AUTH_LINE", Slot::Text(auth_line)),
            ("R2_CLASS", Slot::Text(class)),
            ("R2_STATE", Slot::Text(state)),
            ("WARNING", Slot::Text(warning.unwrap_or(""))),
            ("WARNING_HIDDEN", Slot::Text(if warning.is_some() { "" } else { "hidden" })),
        ],
    );
    page(layout("YAOS Server Running", CSP, RUNNING_CSS, &body), CSP)
}

/// `GET /mobile-setup`: the "Connect YAOS" page for `origin`.
pub fn mobile_setup_page(origin: &str) -> Reply {
    let body = render(
        MOBILE_SETUP_HTML,
        &[("ORIGIN", Slot::Text(origin)), ("SCRIPT", Slot::Markup(MOBILE_SETUP_JS))],
    );
    page(layout("Connect YAOS", CSP, MOBILE_SETUP_CSS, &body), CSP)
}

/// `GET /status`: the vault status page. Its policy is stricter than the
/// others': the one inline script and the one style element are allowed by
/// their SHA-256, nothing else runs or applies, and fetches go only to this
/// origin (the debug JSON, capabilities, snapshots).
pub fn status_page() -> Reply {
    let body = render(STATUS_HTML, &[("SCRIPT", Slot::Markup(STATUS_JS))]);
    let csp = format!(
        "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
         img-src 'none'; base-uri 'none'; form-action 'none'",
        csp_hash(STATUS_JS),
        csp_hash(&style_element_text(STATUS_CSS)),
    );
    page(layout("YAOS vault status", &csp, STATUS_CSS, &body), &csp)
}

/// A CSP source allowing exactly the inline element whose text is `text`.
fn csp_hash(text: &str) -> String {
    use base64::Engine;
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(text.as_bytes());
    format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
}

/// The text of the `<style>` element [`layout`] writes for a page style.
fn style_element_text(page_style: &str) -> String {
    format!("\n{BASE_CSS}\n{page_style}")
}

/// `<origin>/mobile-setup#host=…&token=…&vaultId=…`, the fragment form-encoded
/// like `URLSearchParams` (the link the plugin builds too, spec 6.2).
pub fn mobile_setup_link(origin: &str, token: &str, vault_id: &str) -> String {
    let fragment = js::form_urlencode(&[("host", origin), ("token", token), ("vaultId", vault_id)]);
    format!("{origin}/mobile-setup#{fragment}")
}

/// The QR code of `mobile_setup_url` as a standalone `<svg>` element (no XML
/// declaration): error correction M, dark modules on white with the standard
/// four-module quiet zone, whole-pixel modules at least 240 px across. Empty
/// if the text is too long for any QR version (about 2.3 kB at level M),
/// which the claim page shows as "QR unavailable".
pub fn setup_qr_svg(mobile_setup_url: &str) -> String {
    let Ok(code) = QrCode::with_error_correction_level(mobile_setup_url, EcLevel::M) else {
        return String::new();
    };
    let image = code
        .render::<svg::Color>()
        .min_dimensions(QR_MIN_SIZE_PX, QR_MIN_SIZE_PX)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .quiet_zone(true)
        .build();
    match image.find("<svg") {
        Some(start) => image[start..].to_owned(),
        None => image,
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// The shared document shell around a rendered page body: head (charset,
/// viewport, CSP, title, base and page style), then the body.
fn layout(title: &str, csp: &str, page_style: &str, body: &str) -> String {
    render(
        LAYOUT_HTML,
        &[
            ("CSP", Slot::Text(csp)),
            ("TITLE", Slot::Text(title)),
            ("BASE_STYLE", Slot::Markup(BASE_CSS)),
            ("PAGE_STYLE", Slot::Markup(page_style)),
            ("BODY", Slot::Markup(body)),
        ],
    )
}

/// The value of one `{{NAME}}` token.
enum Slot<'a> {
    /// Text, HTML-escaped on insertion (request-derived values go here).
    Text(&'a str),
    /// This module's own templates and constants, inserted verbatim.
    Markup(&'a str),
}

/// Fills each `{{NAME}}` token of `template` that `slots` names, in a single
/// pass: inserted values are never scanned for tokens. A token `slots` does not
/// name is left as is (the tests check that none survives).
fn render(template: &str, slots: &[(&str, Slot<'_>)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        match slots.iter().find(|(name, _)| *name == &after[..end]) {
            Some((_, slot)) => {
                out.push_str(&rest[..start]);
                match slot {
                    Slot::Text(text) => out.push_str(&escape_html(text)),
                    Slot::Markup(markup) => out.push_str(markup),
                }
                rest = &after[end + 2..];
            }
            None => {
                out.push_str(&rest[..start + 2]);
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edge::http::Body;

    const HOSTILE: &str = r#"https://x"><script>alert('1')</script>&y"#;

    fn html(reply: &Reply) -> &str {
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("Content-Type"), Some("text/html; charset=utf-8"));
        assert_eq!(reply.header("Cache-Control"), Some("no-store"));
        match &reply.body {
            Body::Html(page) => page,
            other => panic!("not html: {other:?}"),
        }
    }

    fn all_pages(origin: &str) -> Vec<Reply> {
        vec![
            claim_page(origin),
            mobile_setup_page(origin),
            running_page(AuthMode::Env, true, None),
            running_page(AuthMode::Claim, false, None),
            status_page(),
        ]
    }

    #[test]
    fn the_status_page_allows_exactly_its_own_script_and_style() {
        let reply = status_page();
        let page = html(&reply);
        let csp = reply.header("Content-Security-Policy").unwrap();
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        let between = |open: &str, close: &str| {
            let start = page.find(open).unwrap() + open.len();
            page[start..].split(close).next().unwrap().to_owned()
        };
        let script = between("<script>", "</script>");
        let style = between("<style>", "</style>");
        assert_eq!(page.matches("<script").count(), 1);
        assert_eq!(page.matches("<style").count(), 1);
        assert!(csp.contains(&format!("script-src {};", csp_hash(&script))), "{csp}");
        assert!(csp.contains(&format!("style-src {};", csp_hash(&style))), "{csp}");
        assert!(!page.contains(" style=\""), "no inline style attributes");
        assert!(page.contains("sessionStorage") && !page.contains("localStorage.setItem"));
    }

    #[test]
    fn escape_html_table() {
        let cases = [
            ("plain", "plain"),
            ("a&b", "a&amp;b"),
            ("<>\"'", "&lt;&gt;&quot;&#39;"),
            ("&amp;", "&amp;amp;"),
            ("é→", "é→"),
        ];
        for (raw, escaped) in cases {
            assert_eq!(escape_html(raw), escaped);
        }
    }

    #[test]
    fn hostile_origin_is_escaped_everywhere() {
        let escaped = "https://x&quot;&gt;&lt;script&gt;alert(&#39;1&#39;)&lt;/script&gt;&amp;y";
        for reply in [claim_page(HOSTILE), mobile_setup_page(HOSTILE)] {
            let page = html(&reply);
            assert!(page.contains(escaped), "{page}");
            assert!(!page.contains("<script>alert"));
            assert!(!page.contains("https://x\""));
            // Only our own inline script element.
            assert_eq!(page.matches("<script").count(), 1);
        }
    }

    #[test]
    fn pages_send_their_policy_as_headers() {
        for reply in [
            claim_page("https://x"),
            running_page(AuthMode::Env, true, None),
            mobile_setup_page("https://x"),
            status_page(),
        ] {
            let csp = reply.header("Content-Security-Policy").unwrap();
            assert!(
                csp.starts_with("default-src 'none';") && csp.ends_with("frame-ancestors 'none'"),
                "{csp}"
            );
            assert_eq!(reply.header("X-Frame-Options"), Some("DENY"));
            assert_eq!(reply.header("X-Content-Type-Options"), Some("nosniff"));
            assert_eq!(reply.header("Referrer-Policy"), Some("no-referrer"));
        }
    }

    #[test]
    fn pages_are_self_contained() {
        // An origin without a scheme, so any `http` left is the page's own.
        for reply in all_pages("sync.example") {
            let page = html(&reply).to_ascii_lowercase();
            assert!(page.starts_with("<!doctype html>"));
            assert!(page.contains(r#"name="viewport""#));
            assert!(page.contains("content-security-policy"));
            // CSS `url(…)` of another origin (the script's `new URL(host)` is no load).
            for attr in
                ["src=", "href=\"http", "@import", "url(http", "url(\"", "url('", "url(//", "<link"]
            {
                assert!(!page.contains(attr), "{attr} in {page}");
            }
            // (The SVG namespace URL only arrives at run time, in the claim answer.)
            assert!(!page.contains("http://") && !page.contains("https://"), "{page}");
            assert!(!page.contains("console."), "pages never log (the token)");
        }
    }

    #[test]
    fn claim_page_structure() {
        let page = html(&claim_page("https://sync.example")).to_owned();
        assert!(page.contains("<title>Claim YAOS Server</title>"));
        assert!(page.contains(r#"<span class="origin" id="origin">https://sync.example</span>"#));
        for id in [
            "claim-button",
            "claim-error",
            "setup-link",
            "qr",
            "manual-host",
            "manual-token",
            "manual-vault",
            "installed-checkbox",
        ] {
            assert_eq!(page.matches(&format!(r#"id="{id}""#)).count(), 1, "{id}");
        }
        for needle in [
            "fetch(\"/claim\"",
            "new Uint8Array(32)",
            "new Uint8Array(16)",
            "data.obsidianUrl",
            "data.setupQrSvg",
            "image/svg+xml",
            "<details>",
        ] {
            assert!(page.contains(needle), "{needle}");
        }
        assert!(!page.contains(".innerHTML") && !page.contains("outerHTML"));
    }

    #[test]
    fn mobile_setup_page_structure() {
        let page = html(&mobile_setup_page("https://sync.example")).to_owned();
        assert!(page.contains("<title>Connect YAOS</title>"));
        for id in ["setup-error", "connect-link", "manual-host", "manual-token", "manual-vault"] {
            assert_eq!(page.matches(&format!(r#"id="{id}""#)).count(), 1, "{id}");
        }
        assert!(page.contains("location.hash"));
        assert!(
            page.contains(r#"history.replaceState(null, "", location.pathname + location.search)"#)
        );
    }

    #[test]
    fn running_page_shows_a_weak_token_warning_only_when_given_one() {
        let quiet = html(&running_page(AuthMode::Env, false, None)).to_owned();
        assert!(quiet.contains(r#"<p id="token-warning" class="warning" role="alert" hidden></p>"#));
        let warned = html(&running_page(AuthMode::Env, false, Some("short <token>"))).to_owned();
        assert!(warned.contains(r#"role="alert" >short &lt;token&gt;</p>"#), "{warned}");
    }

    #[test]
    fn running_page_reflects_mode_and_bucket() {
        let cases = [
            (AuthMode::Env, true, "environment token", "ON"),
            (AuthMode::Env, false, "environment token", "OFF"),
            (AuthMode::Claim, true, "claimed and is locked", "ON"),
            (AuthMode::Claim, false, "claimed and is locked", "OFF"),
        ];
        for (mode, r2, auth_text, state) in cases {
            let page = html(&running_page(mode, r2, None)).to_owned();
            assert!(page.contains("<title>YAOS Server Running</title>"));
            assert!(page.contains("online"));
            assert!(page.contains(auth_text), "{mode:?}");
            assert!(page.contains("Text Sync: ON"));
            let class = if r2 { "on" } else { "off" };
            for (id, name) in [("attachments", "Attachments"), ("snapshots", "Snapshots")] {
                let badge = format!(
                    r#"<span class="badge {class}" id="badge-{id}">{name}: {state}</span>"#
                );
                assert!(page.contains(&badge), "{badge}");
            }
            assert!(!page.contains("<script"));
        }
    }

    #[test]
    fn no_placeholder_token_survives_rendering() {
        let mut pages = all_pages("https://sync.example");
        pages.push(running_page(AuthMode::Unclaimed, false, None));
        for reply in &pages {
            let page = html(reply);
            assert!(!page.contains("{{") && !page.contains("}}"), "{page}");
        }
        // Inserted values are not scanned again: a token-like origin stays text.
        for reply in [claim_page("{{SCRIPT}}"), mobile_setup_page("{{SCRIPT}}")] {
            let page = html(&reply);
            assert!(page.contains(r#"id="origin">{{SCRIPT}}</span>"#), "{page}");
            assert_eq!(page.matches("<script").count(), 1);
        }
    }

    #[test]
    fn mobile_setup_link_form_encodes() {
        assert_eq!(
            mobile_setup_link("https://sync.example:8443", "a b+c", "v/1é"),
            "https://sync.example:8443/mobile-setup#host=https%3A%2F%2Fsync.example%3A8443\
             &token=a+b%2Bc&vaultId=v%2F1%C3%A9"
        );
        let token = "0123456789abcdef".repeat(4);
        assert_eq!(
            mobile_setup_link("http://localhost:8787", &token, "AAAAAAAAAAAAAAAAAAAA-_"),
            format!(
                "http://localhost:8787/mobile-setup#host=http%3A%2F%2Flocalhost%3A8787\
                 &token={token}&vaultId=AAAAAAAAAAAAAAAAAAAA-_"
            )
        );
    }

    #[test]
    fn setup_qr_svg_is_a_deterministic_svg() {
        let url = mobile_setup_link(
            "https://yaos.example.workers.dev",
            &"ab".repeat(32),
            "AbCdEfGhIjKlMnOpQrStUv",
        );
        let svg = setup_qr_svg(&url);
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains(r#"xmlns="http://www.w3.org/2000/svg""#));
        assert!(svg.contains(r##"fill="#ffffff""##) && svg.contains(r##"fill="#000000""##));
        assert!(svg.contains("<rect") && svg.contains("<path"));
        assert!(!svg.contains("<script") && !svg.contains("<?xml"));
        let width: u32 =
            svg.split("width=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap();
        assert!((QR_MIN_SIZE_PX..=2 * QR_MIN_SIZE_PX).contains(&width), "{width}");
        assert_eq!(svg, setup_qr_svg(&url));
        assert_ne!(svg, setup_qr_svg(&format!("{url}x")));
        assert_eq!(setup_qr_svg(&"x".repeat(5000)), "");
    }
}
