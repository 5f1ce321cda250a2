// The author preview: a module's YAML is compiled by the server
// (POST /api/v1/fe/preview/compile) and shown line by line with each
// diagnostic under its line; a valid module's flow is shown as the SVG the
// server drew; the play panel runs it through POST /api/v1/fe/preview/step,
// keeping the engine state in this page, with a simulated clock for
// reminders. Nothing is stored on the server.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const source = $("source");
  const listing = $("listing");
  const summary = $("summary");
  const flow = $("flow");
  const log = $("log");
  const notice = $("notice");
  const choices = $("choices");
  const language = $("language");
  const replyInput = $("text");
  const replyButton = document.querySelector("#reply button");
  const { api, problem } = window.chatcourse;

  let compiled = null;     // the source of the last valid compile
  let state = null;        // the engine state of the conversation
  let wakeAt = null;       // when the next wake-up is due (Date)
  let clock = new Date();  // the simulated time
  let flowUrl = null;
  let timer = null;

  function showClock() {
    $("clock").textContent = clock.toISOString().slice(0, 16).replace("T", " ") + " UTC";
    $("clock").dateTime = clock.toISOString();
    $("wake").textContent = wakeAt ? `Next wake-up (reminder or expiry) due ${wakeAt.toISOString().slice(0, 16).replace("T", " ")} UTC` : "No wake-up due";
  }

  function setPlaying(on) {
    for (const id of ["plus-hour", "plus-day", "to-wake"]) $(id).disabled = !on;
    replyInput.disabled = !on;
    replyButton.disabled = !on;
    if (!on) choices.replaceChildren();
  }

  // The source as a numbered listing; each diagnostic under its line.
  function showListing(text, diagnostics) {
    const lines = text.split("\n");
    const byLine = new Map();
    for (const d of diagnostics) {
      const line = Math.min(Math.max(d.line, 1), lines.length);
      if (!byLine.has(line)) byLine.set(line, []);
      byLine.get(line).push(d);
    }
    const items = lines.map((content, i) => {
      const number = i + 1;
      const li = document.createElement("li");
      li.id = `line-${number}`;
      li.dataset.line = String(number);
      const ln = document.createElement("span");
      ln.className = "ln";
      ln.textContent = String(number);
      const code = document.createElement("code");
      code.textContent = content || " ";
      li.append(ln, code);
      const found = byLine.get(number);
      if (found) {
        li.classList.add(found.some((d) => d.severity === "error") ? "has-error" : "has-warning");
        const list = document.createElement("ul");
        list.className = "diagnostics";
        for (const d of found) {
          const item = document.createElement("li");
          item.className = `diagnostic ${d.severity}`;
          item.dataset.line = String(d.line);
          item.dataset.column = String(d.column);
          item.dataset.code = d.code;
          const head = document.createElement("strong");
          head.textContent = `${d.severity}[${d.code}] ${d.line}:${d.column}`;
          const caret = document.createElement("span");
          caret.className = "caret";
          caret.textContent = `${" ".repeat(Math.max(d.column - 1, 0))}^`;
          item.append(caret, head, document.createTextNode(` ${d.message}`));
          if (d.hint) {
            const hint = document.createElement("span");
            hint.className = "hint";
            hint.textContent = `hint: ${d.hint}`;
            item.append(hint);
          }
          list.append(item);
        }
        li.append(list);
      }
      return li;
    });
    listing.replaceChildren(...items);
  }

  function showFlow(data) {
    if (flowUrl) URL.revokeObjectURL(flowUrl);
    flowUrl = null;
    const svg = data && data.flow && data.flow.svg;
    $("mermaid").textContent = (data && data.flow && data.flow.mermaid) || "";
    if (svg) {
      flowUrl = URL.createObjectURL(new Blob([svg], { type: "image/svg+xml" }));
      flow.src = flowUrl;
      flow.alt = `Flow of ${data.module.name}: ${data.module.steps} steps (the Mermaid text below has the same graph)`;
      flow.hidden = false;
      $("flow-empty").hidden = true;
    } else {
      flow.hidden = true;
      flow.removeAttribute("src");
      $("flow-empty").hidden = false;
    }
  }

  let checks = 0; // only the latest check's answer is shown

  async function check() {
    const text = source.value;
    if (!text.trim()) return;
    const mine = ++checks;
    summary.textContent = "Checking…";
    summary.className = "summary";
    const envelope = await api("/api/v1/fe/preview/compile", { source: text });
    if (mine !== checks) return;
    if (envelope.status !== 200) {
      summary.textContent = problem(envelope);
      return;
    }
    const data = envelope.data;
    const errors = data.diagnostics.filter((d) => d.severity === "error").length;
    const warnings = data.diagnostics.length - errors;
    summary.textContent = data.valid
      ? `${data.module.name} (version ${data.module.version}): valid, ${warnings} warning(s), ${data.module.steps} steps`
      : `${errors} error(s), ${warnings} warning(s): fix them to see the flow and play the module`;
    summary.className = `summary ${data.valid ? "ok" : "bad"}`;
    showListing(text, data.diagnostics);
    showFlow(data);
    compiled = data.valid ? text : null;
    $("start").disabled = !data.valid;
    if (data.valid) {
      const wanted = language.value;
      language.replaceChildren(...data.module.languages.map((tag) => new Option(tag, tag)));
      if (data.module.languages.includes(wanted)) language.value = wanted;
    }
  }

  function bubble(text, mine, at) {
    const el = document.createElement("div");
    el.className = `bubble ${mine ? "received" : "sent"}`;
    el.append(document.createTextNode(text));
    const time = document.createElement("time");
    time.dateTime = at;
    time.textContent = at.slice(0, 16).replace("T", " ");
    el.append(time);
    log.append(el);
    el.scrollIntoView({ block: "end" });
  }

  function event(text) {
    const el = document.createElement("p");
    el.className = "event";
    el.textContent = text;
    log.append(el);
  }

  // "1. Taking a big loan" lines become buttons that send the number.
  function showChoices(text) {
    const found = [];
    for (const line of text.split("\n")) {
      const m = /^\s*(\d{1,2})[.)]\s+(\S.*)$/.exec(line);
      if (m) found.push({ number: m[1], label: m[2] });
    }
    choices.replaceChildren(...(found.length >= 2 ? found : []).map((c) => {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.choice = c.number;
      button.textContent = `${c.number}. ${c.label}`;
      button.addEventListener("click", () => reply(c.number));
      return button;
    }));
  }

  async function play(request) {
    notice.hidden = true;
    const envelope = await api("/api/v1/fe/preview/step",
      Object.assign({ source: compiled, state, at: clock.toISOString() }, request));
    if (envelope.status !== 200) {
      notice.textContent = problem(envelope);
      notice.hidden = false;
      return;
    }
    const data = envelope.data;
    state = data.state;
    wakeAt = data.wake_at ? new Date(data.wake_at) : null;
    // What the engine recorded of the learner's reply, then its answer.
    for (const e of data.events) event(e);
    for (const m of data.messages) bubble(m.text, false, m.at);
    const last = data.messages[data.messages.length - 1];
    if (last) showChoices(last.text);
    if (data.status !== "active") {
      event(`The session is ${data.status.replace("_", " ")}.`);
      setPlaying(false);
    }
    showClock();
  }

  function start() {
    if (!compiled) return;
    state = null;
    wakeAt = null;
    clock = new Date();
    clock.setSeconds(0, 0);
    log.replaceChildren();
    setPlaying(true);
    showClock();
    play({ action: "start", language: language.value, learner_name: $("learner").value });
  }

  function reply(text) {
    text = text.trim();
    if (!text || !state) return;
    choices.replaceChildren();
    bubble(text, true, clock.toISOString());
    play({ action: "reply", text });
  }

  function advance(ms) {
    clock = new Date(clock.getTime() + ms);
    showClock();
    play({ action: "advance" });
  }

  source.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(check, 600);
  });
  $("check").addEventListener("click", check);
  $("file").addEventListener("change", async () => {
    const file = $("file").files[0];
    if (!file) return;
    source.value = await file.text();
    check();
  });
  $("start").addEventListener("click", start);
  language.addEventListener("change", () => { if (state) start(); });
  $("plus-hour").addEventListener("click", () => advance(3600 * 1000));
  $("plus-day").addEventListener("click", () => advance(24 * 3600 * 1000));
  $("to-wake").addEventListener("click", () => {
    if (wakeAt) advance(Math.max(wakeAt.getTime() - clock.getTime(), 0));
  });
  $("reply").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = replyInput.value;
    replyInput.value = "";
    reply(text);
    replyInput.focus();
  });
  showClock();
  window.chatcourse.ready(check);
})();
