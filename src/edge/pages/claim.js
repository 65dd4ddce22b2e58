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
    // One token per tab: a retry after a lost answer repeats the same claim,
    // which the server accepts again, instead of claiming with a new token.
    const saved = JSON.parse(sessionStorage.getItem("yaos-claim") || "null");
    const { token, vaultId } = saved || { token: randomToken(), vaultId: randomVaultId() };
    sessionStorage.setItem("yaos-claim", JSON.stringify({ token, vaultId }));
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
