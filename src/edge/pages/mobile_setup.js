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
