//! The three HTML pages (spec 6.1, 6.2) and the setup QR code.
//!
//! - [`claim_page`]: `GET /` while unclaimed. Its script makes the token and
//!   vault id in the browser, sends `POST /claim`, then walks the user through
//!   installing the plugin and connecting (deep link, QR code, manual fields).
//! - [`running_page`]: `GET /` once claimed (env or claim mode).
//! - [`mobile_setup_page`]: `GET /mobile-setup`, the page the QR code opens on
//!   a phone; it reads the setup values from the URL fragment, which never
//!   reaches the server.
//!
//! Every page is self-contained: inline CSS and script, no CDN, fonts or
//! images, and a `Content-Security-Policy` that forbids loading anything from
//! elsewhere. The QR code the TypeScript server drew with a CDN script is drawn
//! here, server-side, by [`setup_qr_svg`]; the shell puts it into the claim
//! answer as `setupQrSvg`, next to the `obsidianUrl` of
//! [`super::config_rules::obsidian_setup_url`]. The only request-derived value a
//! page contains is the origin, always through [`escape_html`]; the scripts
//! never log the token.

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

/// `GET /` while unclaimed: the "Claim YAOS Server" page for `origin`.
pub fn claim_page(origin: &str) -> Reply {
    let body = CLAIM_BODY.replace("{origin}", &escape_html(origin));
    Reply::html(200, layout("Claim YAOS Server", CLAIM_STYLE, &body, Some(CLAIM_SCRIPT)))
}

/// `GET /` once claimed: "YAOS Server Running", naming the auth mode, with
/// the attachment and snapshot badges on exactly when R2 is bound.
pub fn running_page(mode: AuthMode, r2_bound: bool) -> Reply {
    let auth_line = match mode {
        AuthMode::Env => "Secured by an environment token.",
        AuthMode::Claim => "This server has been claimed and is locked.",
        // Not served by the router (an unclaimed server shows the claim page).
        AuthMode::Unclaimed => "This server has not been claimed yet.",
    };
    let badge = |id: &str, name: &str, on: bool| {
        let (class, state) = if on { ("on", "ON") } else { ("off", "OFF") };
        format!(r#"<span class="badge {class}" id="badge-{id}">{name}: {state}</span>"#)
    };
    let body = format!(
        r#"<main class="card">
  <h1><span class="dot" aria-hidden="true"></span>YAOS Server is online</h1>
  <p id="auth-mode">{auth_line}</p>
  <div class="badges">
    <span class="badge on" id="badge-text-sync">Text Sync: ON</span>
    {attachments}
    {snapshots}
  </div>
</main>"#,
        attachments = badge("attachments", "Attachments", r2_bound),
        snapshots = badge("snapshots", "Snapshots", r2_bound),
    );
    Reply::html(200, layout("YAOS Server Running", RUNNING_STYLE, &body, None))
}

/// `GET /mobile-setup`: the "Connect YAOS" page for `origin`.
pub fn mobile_setup_page(origin: &str) -> Reply {
    let body = MOBILE_BODY.replace("{origin}", &escape_html(origin));
    Reply::html(200, layout("Connect YAOS", MOBILE_STYLE, &body, Some(MOBILE_SCRIPT)))
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

/// The shared document shell: head (charset, viewport, CSP, title, style),
/// then the body and an optional inline script.
fn layout(title: &str, style: &str, body: &str, script: Option<&str>) -> String {
    let script = script.map(|s| format!("<script>{s}</script>\n")).unwrap_or_default();
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<meta name="referrer" content="no-referrer">
<title>{title}</title>
<style>{BASE_STYLE}{style}</style>
</head>
<body>
{body}
{script}</body>
</html>
"#
    )
}

const BASE_STYLE: &str = r#"
:root { color-scheme: dark; }
* { box-sizing: border-box; }
body {
  margin: 0; min-height: 100vh; padding: 20px;
  display: grid; place-items: center;
  font-family: ui-sans-serif, system-ui, -apple-system, "Segoe UI", sans-serif;
  background: #08111d; color: #f4f7fb;
}
.card {
  width: min(640px, 100%); padding: 28px;
  background: rgba(255, 255, 255, 0.03);
  border: 1px solid rgba(161, 205, 255, 0.15); border-radius: 20px;
}
h1 { margin: 0 0 8px; font-size: 26px; font-weight: 600; }
h2 { margin: 0; font-size: 16px; font-weight: 600; }
p { margin: 0 0 12px; line-height: 1.5; color: #a9c0d8; }
code, .origin { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
.origin {
  display: inline-block; padding: 6px 12px; border-radius: 8px;
  background: rgba(4, 10, 18, 0.6); color: #7bdff6; font-size: 13px;
}
button, a.cta {
  display: inline-flex; align-items: center; justify-content: center;
  border: 0; border-radius: 12px; padding: 14px 22px;
  background: #f4f7fb; color: #08111d; font: inherit; font-weight: 600;
  text-decoration: none; cursor: pointer;
}
button[disabled], a.cta[aria-disabled="true"] { opacity: 0.5; cursor: not-allowed; }
button.ghost {
  padding: 10px 14px; background: rgba(255, 255, 255, 0.06); color: #f4f7fb;
  border: 1px solid rgba(255, 255, 255, 0.12);
}
.error { color: #ff8a8a; }
[hidden] { display: none !important; }
details {
  margin-top: 20px; border-radius: 12px;
  background: rgba(4, 10, 18, 0.6); border: 1px solid rgba(161, 205, 255, 0.1);
}
summary { padding: 14px 16px; font-size: 14px; color: #a9c0d8; cursor: pointer; }
.fields { display: grid; gap: 12px; padding: 0 16px 16px; }
.fields label {
  display: block; margin-bottom: 6px; font-size: 11px; color: #6984a3;
  text-transform: uppercase; letter-spacing: 0.04em;
}
.row { display: flex; gap: 8px; }
.fields input {
  flex: 1; min-width: 0; padding: 10px 12px; border-radius: 8px;
  background: rgba(0, 0, 0, 0.5); border: 1px solid rgba(255, 255, 255, 0.1);
  color: #7bdff6; font-family: ui-monospace, Menlo, monospace; font-size: 13px;
}
"#;

const CLAIM_STYLE: &str = r#"
.hero { text-align: center; margin-bottom: 24px; }
.center { display: flex; justify-content: center; }
#claim-error { text-align: center; margin-top: 16px; min-height: 1.5em; }
.step {
  margin-bottom: 16px; padding: 20px; border-radius: 16px;
  background: rgba(4, 10, 18, 0.4); border: 1px solid rgba(161, 205, 255, 0.1);
}
.step-head { display: flex; align-items: center; gap: 12px; margin-bottom: 12px; }
.num {
  width: 24px; height: 24px; border-radius: 50%; flex: none;
  display: grid; place-items: center;
  background: #7bdff6; color: #08111d; font-size: 12px; font-weight: 700;
}
.check {
  display: flex; align-items: center; gap: 12px; margin-top: 12px; padding: 12px 14px;
  border-radius: 10px; cursor: pointer;
  background: rgba(123, 223, 246, 0.05); border: 1px solid rgba(123, 223, 246, 0.15);
}
.check input { width: 18px; height: 18px; accent-color: #7bdff6; }
.step.locked .targets { opacity: 0.35; pointer-events: none; filter: grayscale(1); }
.targets { display: flex; gap: 16px; flex-wrap: wrap; }
.target {
  flex: 1 1 220px; display: flex; flex-direction: column; align-items: center; gap: 12px;
  padding: 16px; border-radius: 12px; text-align: center;
  border: 1px dashed rgba(255, 255, 255, 0.12);
}
#qr { background: #ffffff; border-radius: 8px; line-height: 0; color: #08111d; }
#qr svg { display: block; max-width: 100%; height: auto; }
#qr.unavailable { padding: 12px; line-height: 1.4; font-size: 13px; }
"#;

const CLAIM_BODY: &str = r#"<main class="card">
  <section id="claim-view">
    <div class="hero">
      <h1>Claim your YAOS server</h1>
      <p>This sync server is online and unclaimed. Claiming it creates the secret token your vault will use.</p>
      <span class="origin" id="origin">{origin}</span>
    </div>
    <div class="center"><button id="claim-button" type="button">Claim Server</button></div>
    <p id="claim-error" class="error" role="alert"></p>
  </section>

  <section id="setup-view" hidden>
    <div class="hero">
      <h1>Server claimed</h1>
      <p>Keep this page open until your vault is connected: the token is shown only here.</p>
    </div>

    <div class="step">
      <div class="step-head"><span class="num">1</span><h2>Get the YAOS plugin</h2></div>
      <p>In Obsidian, open <em>Settings → Community plugins</em>, search for <strong>YAOS</strong>, install it, and make sure it is <strong>enabled</strong>.</p>
      <label class="check"><input id="installed-checkbox" type="checkbox"><span>I have installed and enabled YAOS.</span></label>
    </div>

    <div class="step locked" id="step-connect">
      <div class="step-head"><span class="num">2</span><h2>Connect Obsidian</h2></div>
      <div class="targets">
        <div class="target">
          <p>On this device</p>
          <a id="setup-link" class="cta" aria-disabled="true">Auto-Configure</a>
        </div>
        <div class="target">
          <p>On a phone: scan this code</p>
          <div id="qr" role="img" aria-label="QR code that opens the mobile setup page"></div>
        </div>
      </div>
      <details>
        <summary>Manual setup</summary>
        <div class="fields">
          <div><label for="manual-host">Server link</label>
            <div class="row"><input id="manual-host" type="text" readonly><button class="ghost" type="button" data-copy="manual-host">Copy</button></div></div>
          <div><label for="manual-token">Token</label>
            <div class="row"><input id="manual-token" type="text" readonly><button class="ghost" type="button" data-copy="manual-token">Copy</button></div></div>
          <div><label for="manual-vault">Vault ID</label>
            <div class="row"><input id="manual-vault" type="text" readonly><button class="ghost" type="button" data-copy="manual-vault">Copy</button></div></div>
        </div>
      </details>
    </div>
  </section>
</main>"#;

const CLAIM_SCRIPT: &str = r#"
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const claimButton = $("claim-button");
  const claimError = $("claim-error");
  const checkbox = $("installed-checkbox");
  const setupLink = $("setup-link");
  const qr = $("qr");

  // 32 random bytes as 64 lowercase hex characters.
  function randomToken() {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  // 16 random bytes as unpadded base64url (22 characters).
  function randomVaultId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return btoa(String.fromCharCode(...bytes))
      .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  // The SVG is produced by this server's own /claim answer, never by request
  // input. It still goes in through a safe path rather than innerHTML: parsed
  // as XML (scripts in a DOMParser document never run), checked to be a single
  // <svg> root, and only that element is imported into the page.
  function showQr(svgText) {
    const doc = svgText ? new DOMParser().parseFromString(svgText, "image/svg+xml") : null;
    const root = doc && doc.documentElement;
    if (!root || root.nodeName !== "svg" || doc.getElementsByTagName("parsererror").length) {
      qr.classList.add("unavailable");
      qr.textContent = "QR code unavailable: use the manual setup below.";
      return;
    }
    qr.replaceChildren(document.importNode(root, true));
  }

  function showError(message) {
    claimError.textContent = message;
    claimButton.disabled = false;
    claimButton.textContent = "Claim Server";
  }

  checkbox.addEventListener("change", () => {
    $("step-connect").classList.toggle("locked", !checkbox.checked);
    setupLink.setAttribute("aria-disabled", checkbox.checked ? "false" : "true");
  });

  setupLink.addEventListener("click", (event) => {
    if (!checkbox.checked || !setupLink.hasAttribute("href")) event.preventDefault();
  });

  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.addEventListener("click", async () => {
      const input = $(button.dataset.copy);
      try {
        await navigator.clipboard.writeText(input.value);
      } catch (_) {
        input.select(); // insecure context or denied: leave it selected to copy by hand
        return;
      }
      button.textContent = "Copied!";
      setTimeout(() => { button.textContent = "Copy"; }, 2000);
    });
  });

  claimButton.addEventListener("click", async () => {
    claimButton.disabled = true;
    claimButton.textContent = "Claiming…";
    claimError.textContent = "";
    const token = randomToken();
    const vaultId = randomVaultId();
    let response, data;
    try {
      response = await fetch("/claim", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ token, vaultId }),
      });
      data = await response.json().catch(() => ({}));
    } catch (_) {
      showError("Could not reach the server. Check your connection and try again.");
      return;
    }
    if (!response.ok || !data || data.ok !== true) {
      const error = data && typeof data.error === "string" && data.error;
      showError(error || "Claim failed. Please try again.");
      return;
    }
    const host = typeof data.host === "string" && data.host ? data.host : location.origin;
    $("manual-host").value = host;
    $("manual-token").value = token;
    $("manual-vault").value = vaultId;
    setupLink.href = typeof data.obsidianUrl === "string" && data.obsidianUrl
      ? data.obsidianUrl
      : "obsidian://yaos?" + new URLSearchParams({ action: "setup", host, token, vaultId });
    showQr(typeof data.setupQrSvg === "string" ? data.setupQrSvg : "");
    $("claim-view").hidden = true;
    $("setup-view").hidden = false;
  });
})();
"#;

const RUNNING_STYLE: &str = r#"
.card { width: min(480px, 100%); text-align: center; }
h1 { display: flex; align-items: center; justify-content: center; gap: 10px; font-size: 24px; }
.dot {
  width: 12px; height: 12px; border-radius: 50%; background: #88ffb8;
  box-shadow: 0 0 12px rgba(136, 255, 184, 0.5);
}
.badges { display: flex; flex-wrap: wrap; gap: 12px; justify-content: center; }
.badge {
  padding: 6px 12px; border-radius: 999px; font-size: 12px;
  background: rgba(255, 255, 255, 0.05); border: 1px solid rgba(255, 255, 255, 0.1);
}
.badge.on { color: #88ffb8; border-color: rgba(136, 255, 184, 0.3); }
.badge.off { color: #6984a3; }
"#;

const MOBILE_STYLE: &str = r#"
.card { width: min(420px, 100%); text-align: center; }
a.cta { width: 100%; margin-top: 8px; background: #7bdff6; }
#setup-error { margin-top: 16px; }
.help { margin-top: 20px; padding: 12px 14px; text-align: left; border-radius: 12px;
  background: rgba(255, 255, 255, 0.03); border: 1px solid rgba(255, 255, 255, 0.1); }
.help p { margin: 0 0 6px; font-size: 13px; }
details { text-align: left; }
"#;

const MOBILE_BODY: &str = r#"<main class="card">
  <h1>Connect YAOS</h1>
  <p>Link Obsidian on this phone to <span class="origin" id="origin">{origin}</span></p>
  <a id="connect-link" class="cta" aria-disabled="true">Connect Obsidian</a>
  <p id="setup-error" class="error" role="alert" hidden></p>
  <div class="help">
    <p>Don't have YAOS on this phone yet?</p>
    <p>1. In Obsidian, open <strong>Settings → Community plugins</strong>.</p>
    <p>2. Search for <strong>YAOS</strong>, install it, and enable it.</p>
    <p>3. Come back here and tap <strong>Connect Obsidian</strong>.</p>
  </div>
  <details>
    <summary>Manual setup</summary>
    <div class="fields">
      <div><label for="manual-host">Server link</label><div class="row"><input id="manual-host" type="text" readonly></div></div>
      <div><label for="manual-token">Token</label><div class="row"><input id="manual-token" type="text" readonly></div></div>
      <div><label for="manual-vault">Vault ID</label><div class="row"><input id="manual-vault" type="text" readonly></div></div>
    </div>
  </details>
</main>"#;

const MOBILE_SCRIPT: &str = r#"
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const read = (name) => (params.get(name) || "").trim();
  const host = read("host").replace(/\/$/, "");
  const token = read("token");
  const vaultId = read("vaultId");

  if (!host || !token || !vaultId) {
    const error = $("setup-error");
    error.textContent = "This setup link is incomplete. Please re-scan the QR code on your server's setup page.";
    error.hidden = false;
    return;
  }

  $("manual-host").value = host;
  $("manual-token").value = token;
  $("manual-vault").value = vaultId;
  const link = $("connect-link");
  link.href = "obsidian://yaos?" + new URLSearchParams({ action: "setup", host, token, vaultId });
  link.setAttribute("aria-disabled", "false");
  // Drop the token from the address bar and this history entry.
  history.replaceState(null, "", location.pathname + location.search);
})();
"#;

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
            running_page(AuthMode::Env, true),
            running_page(AuthMode::Claim, false),
        ]
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
    fn pages_are_self_contained() {
        // An origin without a scheme, so any `http` left is the page's own.
        for reply in all_pages("sync.example") {
            let page = html(&reply).to_ascii_lowercase();
            assert!(page.starts_with("<!doctype html>"));
            assert!(page.contains(r#"name="viewport""#));
            assert!(page.contains("content-security-policy"));
            for attr in ["src=", "href=\"http", "@import", "url(", "<link"] {
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
    fn running_page_reflects_mode_and_bucket() {
        let cases = [
            (AuthMode::Env, true, "environment token", "ON"),
            (AuthMode::Env, false, "environment token", "OFF"),
            (AuthMode::Claim, true, "claimed and is locked", "ON"),
            (AuthMode::Claim, false, "claimed and is locked", "OFF"),
        ];
        for (mode, r2, auth_text, state) in cases {
            let page = html(&running_page(mode, r2)).to_owned();
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
