"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const read = (name) => (params.get(name) || "").trim();
  const host = read("host").replace(/\/$/, "");
  const token = read("token");
  const vaultId = read("vaultId");

  const refuse = (message) => {
    const error = $("setup-error");
    error.textContent = message;
    error.hidden = false;
    history.replaceState(null, "", location.pathname + location.search);
  };
  if (!host || !token || !vaultId) {
    refuse("This setup link is incomplete. Please re-scan the QR code on your server's setup page.");
    return;
  }
  // The link must point Obsidian at this very server: a crafted link could
  // otherwise show this server's address while sending the token elsewhere.
  let hostOrigin = null;
  try { hostOrigin = new URL(host).origin; } catch (_) { /* not a URL */ }
  if (hostOrigin !== location.origin) {
    refuse(`This setup link points Obsidian at ${host}, not at this server (${location.origin}). ` +
      "It was not made by this server: do not use it. Open the setup page of your own server instead.");
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
