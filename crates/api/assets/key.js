// The API key of the author and dashboard pages: asked for once, kept only
// for this browser tab's session (sessionStorage, gone when the tab
// closes), and sent in the Authorization header of each request. It is
// never put in a cookie, so other sites cannot make the browser send it
// (no CSRF), and never in a URL.
"use strict";

window.chatcourse = (() => {
  const STORE = "chatcourse.apiKey";
  const form = document.getElementById("key-form");
  const input = document.getElementById("key");
  const status = document.getElementById("key-status");
  const forget = document.getElementById("forget-key");
  let onReady = () => {};

  function key() { return window.sessionStorage.getItem(STORE) || ""; }

  function show() {
    const has = key() !== "";
    form.hidden = has;
    forget.hidden = !has;
    status.textContent = has ? "Key set for this tab" : "No key yet";
    document.body.classList.toggle("no-key", !has);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    window.sessionStorage.setItem(STORE, value);
    input.value = "";
    show();
    onReady();
  });
  forget.addEventListener("click", () => {
    window.sessionStorage.removeItem(STORE);
    show();
    input.focus();
  });

  // A request to this server with the key; resolves to the envelope. A
  // refused key is forgotten, and the form asks again.
  async function api(path, body) {
    const init = { headers: { Authorization: `Bearer ${key()}` }, cache: "no-store" };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let envelope;
    try { envelope = await response.json(); } catch (_) { envelope = { status: response.status, message: response.statusText, errors: [] }; }
    if (response.status === 401) {
      window.sessionStorage.removeItem(STORE);
      show();
      status.textContent = "The key was refused: enter a valid key";
    }
    return envelope;
  }

  // The text of an error envelope, with its details.
  function problem(envelope) {
    const errors = (envelope.errors || []).join("; ");
    return errors ? `${envelope.message}: ${errors}` : envelope.message;
  }

  show();
  return {
    key, api, problem,
    ready(callback) { onReady = callback; if (key()) callback(); },
  };
})();
