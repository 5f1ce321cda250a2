// The learner's chat page: the live chat of one session over the WebSocket
// (/api/v1/ws?token=...), opened with a learner token from the page's URL.
// Every message is shown once and in id order; after a dropped connection
// the page reconnects by itself with afterId, so nothing is missed or
// repeated. No framework, no network but this server.
"use strict";

(() => {
  const params = new URLSearchParams(window.location.search);
  const token = (params.get("token") || "").trim();
  const log = document.getElementById("log");
  const typing = document.getElementById("typing");
  const notice = document.getElementById("notice");
  const choices = document.getElementById("choices");
  const form = document.getElementById("reply");
  const input = document.getElementById("text");
  const connection = document.getElementById("connection");

  let socket = null;
  let lastId = 0;            // the highest message id shown
  let retry = 0;             // reconnect attempts since the last success
  let ended = false;         // token expired or session over: stop for good
  let awaitingReply = false; // the learner spoke; the bot has not yet answered
  const pending = [];        // bot messages waiting to be shown, in order
  let revealing = false;
  const outbox = [];         // learner messages typed while disconnected

  const ENDED_STATUSES = { Completed: "This course is complete. Thank you!",
    Expired: "This course has expired.", OptedOut: "You have stopped this course." };

  function setConnection(text) { connection.textContent = text; }

  function showNotice(text, kind) {
    notice.textContent = text;
    notice.className = `notice ${kind || "problem"}`;
    notice.hidden = false;
  }

  function finish(text, kind) {
    ended = true;
    showNotice(text, kind);
    form.setAttribute("aria-disabled", "true");
    input.disabled = true;
    form.querySelector("button").disabled = true;
    clearChoices();
    typing.hidden = true;
    setConnection("Closed");
    if (socket) socket.close(1000);
  }

  function clearChoices() { choices.replaceChildren(); }

  // "1. Taking a big loan" lines of a bot message become buttons that send
  // the choice's number.
  function choicesOf(text) {
    const found = [];
    for (const line of text.split("\n")) {
      const m = /^\s*(\d{1,2})[.)]\s+(\S.*)$/.exec(line);
      if (m) found.push({ number: m[1], label: m[2] });
    }
    return found.length >= 2 ? found : [];
  }

  function showChoices(list) {
    clearChoices();
    for (const choice of list) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "choice";
      button.dataset.choice = choice.number;
      button.textContent = `${choice.number}. ${choice.label}`;
      button.addEventListener("click", () => send(choice.number));
      choices.append(button);
    }
  }

  function bubble(item) {
    const el = document.createElement("div");
    const sent = item.message_type === "SENT";
    el.className = `bubble ${sent ? "sent" : "received"}`;
    el.dataset.id = String(item.id);
    el.setAttribute("aria-label", sent ? "Course" : "You");
    el.append(document.createTextNode(item.message));
    const time = document.createElement("time");
    time.textContent = item.date_time || "";
    el.append(time);
    log.append(el);
    el.scrollIntoView({ block: "end" });
    if (sent) {
      showChoices(choicesOf(item.message));
    }
  }

  // Messages are shown strictly in id order; bot messages of one turn
  // appear one after another with "typing" in between, as a person would
  // write them; the learner's own appear at once.
  function reveal() {
    if (revealing) return;
    const next = pending.shift();
    if (!next) {
      typing.hidden = !awaitingReply;
      return;
    }
    const bot = next.message_type === "SENT";
    const delay = !bot || log.childElementCount === 0 ? 0 : Math.min(700, 150 + next.message.length * 3);
    revealing = true;
    typing.hidden = !bot || delay === 0;
    window.setTimeout(() => {
      revealing = false;
      bubble(next);
      reveal();
    }, delay);
  }

  function receive(item) {
    if (typeof item.id !== "number" || item.id <= lastId) return; // seen already
    lastId = item.id;
    if (item.message_type === "SENT") awaitingReply = false;
    pending.push(item);
    reveal();
  }

  function send(text) {
    text = text.trim();
    if (!text || ended) return;
    clearChoices();
    awaitingReply = true;
    typing.hidden = false;
    const frame = JSON.stringify({ message: text, external_id: newId() });
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(frame);
    } else {
      outbox.push(frame); // sent once connected again
    }
  }

  function newId() {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID();
    return `${Date.now()}-${Math.random().toString(16).slice(2)}`;
  }

  // Why the socket cannot open: a plain GET of the same URL answers with
  // the error envelope (an expired token is 401 invalid_token).
  async function whyRefused() {
    try {
      const r = await fetch(`/api/v1/ws?token=${encodeURIComponent(token)}`, { cache: "no-store" });
      const body = await r.json();
      return body && body.code;
    } catch (_) {
      return null;
    }
  }

  function connect() {
    if (ended) return;
    setConnection(retry === 0 ? "Connecting…" : "Reconnecting…");
    const scheme = window.location.protocol === "https:" ? "wss" : "ws";
    let url = `${scheme}://${window.location.host}/api/v1/ws?token=${encodeURIComponent(token)}`;
    if (lastId > 0) url += `&afterId=${lastId}`;
    let opened = false;
    socket = new WebSocket(url);
    socket.addEventListener("open", () => {
      opened = true;
      retry = 0;
      notice.hidden = true;
      setConnection("Connected");
      while (outbox.length) socket.send(outbox.shift());
    });
    socket.addEventListener("message", (event) => {
      let frame;
      try { frame = JSON.parse(event.data); } catch (_) { return; }
      if (frame.message_type) {
        receive(frame);
      } else if (frame.session_status) {
        if (ENDED_STATUSES[frame.session_status]) {
          const end = () => finish(ENDED_STATUSES[frame.session_status], "info");
          pending.length ? window.setTimeout(end, 800) : end();
        }
      } else if (frame.code) {
        awaitingReply = false;
        typing.hidden = true;
        showNotice(frame.message || "That message could not be sent.");
      }
    });
    socket.addEventListener("close", async () => {
      socket = null;
      if (ended) return;
      if (!opened) {
        const code = await whyRefused();
        if (code === "invalid_token") {
          finish("This chat link has expired or is no longer valid. Ask for a new link to continue.");
          return;
        }
        if (code === "session_not_found") {
          finish("This conversation no longer exists.");
          return;
        }
      }
      retry += 1;
      setConnection("Reconnecting…");
      const wait = Math.min(10000, 300 * 2 ** Math.min(retry, 6)) * (0.75 + Math.random() / 2);
      window.setTimeout(connect, wait);
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value;
    input.value = "";
    send(text);
    input.focus();
  });

  if (!token) {
    finish("This chat link is incomplete: it has no token. Ask for a new link.");
    return;
  }
  connect();
})();
