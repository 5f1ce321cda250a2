// The programme dashboard: GET /api/v1/fe/program/dashboard with the key
// and the filters (module, version, language, enrolment dates), then, for
// each section the server sends, its chart (an SVG the server drew), its
// numbers as a table, and a CSV of that table. New sections (the programme
// report's) show without changes here. The filters' choices are the
// values the server lists for the programme.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const { api, problem } = window.chatcourse;
  const urls = []; // blob: URLs of the current charts and CSVs
  let shown = null; // the programme on screen
  const FILTERS = [["module", "f-module"], ["version", "f-version"], ["language", "f-language"],
    ["from", "f-from"], ["until", "f-until"]];

  // The filters set in the form, as query parameters.
  function filterParams() {
    const params = new URLSearchParams();
    for (const [name, id] of FILTERS) {
      const value = $(id).value.trim();
      if (value) params.set(name, value);
    }
    return params;
  }

  // Fills a select with `options` ([value, label]), keeping `chosen`.
  function choices(select, options, chosen) {
    const first = select.options[0];
    select.replaceChildren(first, ...options.map(([value, label]) => new Option(label, value, false, value === chosen)));
    select.value = options.some(([value]) => value === chosen) ? chosen : "";
  }

  function showFilters(filters, scope) {
    choices($("f-module"), filters.modules.map((m) => [m, m]), scope.module || "");
    choices($("f-version"), filters.versions.map((v) => [v.hash, `${v.module} ${v.label} (${v.registered})`]), scope.version || "");
    choices($("f-language"), filters.languages.map((l) => [l, l]), scope.language || "");
    $("filters").hidden = false;
  }

  function blobUrl(text, type) {
    const url = URL.createObjectURL(new Blob([text], { type }));
    urls.push(url);
    return url;
  }

  function csvCell(value) {
    const text = value === null || value === undefined ? "" : String(value);
    return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
  }

  function table(section) {
    const el = document.createElement("table");
    el.dataset.section = section.id;
    const caption = document.createElement("caption");
    caption.textContent = section.title;
    const head = el.createTHead().insertRow();
    for (const column of section.columns) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = column;
      head.append(th);
    }
    const body = el.createTBody();
    for (const row of section.rows) {
      const tr = body.insertRow();
      row.forEach((value, i) => {
        const cell = i === 0 ? document.createElement("th") : document.createElement("td");
        if (i === 0) cell.scope = "row";
        cell.textContent = value === null ? "–" : String(value);
        tr.append(cell);
      });
    }
    el.prepend(caption);
    return el;
  }

  function section(data, programme) {
    const el = document.createElement("section");
    el.className = "panel figure";
    el.id = `section-${data.id}`;
    const h = document.createElement("h2");
    h.textContent = data.title;
    el.append(h);
    if (data.svg) {
      const img = document.createElement("img");
      img.src = blobUrl(data.svg, "image/svg+xml");
      img.alt = `${data.title}: chart of the table below`;
      img.className = "chart";
      el.append(img);
    }
    // A wide table scrolls inside its panel (by keyboard too).
    const scroll = document.createElement("div");
    scroll.className = "table-scroll";
    scroll.tabIndex = 0;
    scroll.setAttribute("role", "region");
    scroll.setAttribute("aria-label", `${data.title}: table`);
    scroll.append(table(data));
    el.append(scroll);
    if (data.note) {
      const note = document.createElement("p");
      note.className = "muted";
      note.textContent = data.note;
      el.append(note);
    }
    const csv = [data.columns, ...data.rows].map((row) => row.map(csvCell).join(",")).join("\n") + "\n";
    const link = document.createElement("a");
    link.href = blobUrl(csv, "text/csv");
    link.download = `programme-${programme}-${data.id}.csv`;
    link.textContent = "These numbers as CSV";
    el.append(link);
    return el;
  }

  async function show(programme, params = new URLSearchParams()) {
    $("status").textContent = "Loading…";
    $("status").className = "summary";
    const query = new URLSearchParams(params);
    query.set("programIdentifier", programme);
    const envelope = await api(`/api/v1/fe/program/dashboard?${query}`);
    while (urls.length) URL.revokeObjectURL(urls.pop());
    if (envelope.status !== 200) {
      $("status").textContent = problem(envelope);
      $("status").className = "summary bad";
      $("overview").hidden = true;
      $("sections").replaceChildren();
      $("export").disabled = true;
      if (envelope.status !== 400) $("filters").hidden = true;
      return;
    }
    const data = envelope.data;
    shown = programme;
    showFilters(data.filters, data.scope);
    for (const name of ["from", "until"]) $(`f-${name}`).value = /^\d{4}-\d{2}-\d{2}$/.test(params.get(name) || "") ? params.get(name) : "";
    const narrowed = [...params.keys()].length > 0;
    $("status").textContent = narrowed
      ? `Filtered: ${[...params].map(([k, v]) => `${k} ${v}`).join(", ")}. ${data.summary.enrolled} learner(s) match.`
      : "";
    $("programme-name").textContent = `${data.summary.program_name} (programme ${data.summary.program_identifier})`;
    $("programme-created").textContent = `Created ${data.summary.date_created}`;
    $("overview").hidden = false;
    $("sections").replaceChildren(...data.sections.map((s) => section(s, programme)));
    $("export").disabled = false;
    const hash = new URLSearchParams(params);
    hash.set("programme", programme);
    window.history.replaceState(null, "", `#${hash}`);
  }

  // The per-session export needs the key in a header, so it is fetched
  // here and handed to the browser as a file.
  $("export").addEventListener("click", async () => {
    if (shown === null) return;
    const response = await fetch(`/api/v1/fe/program/export/scores?programIdentifier=${encodeURIComponent(shown)}&format=csv`,
      { headers: { Authorization: `Bearer ${window.chatcourse.key()}` }, cache: "no-store" });
    if (!response.ok) {
      $("status").textContent = `The export failed (${response.status}).`;
      return;
    }
    const link = document.createElement("a");
    link.href = blobUrl(await response.text(), "text/csv");
    link.download = `programme-${shown}-scores.csv`;
    document.body.append(link);
    link.click();
    link.remove();
  });

  $("pick").addEventListener("submit", (event) => {
    event.preventDefault();
    const programme = $("programme").value.trim();
    // Another programme has other modules and languages: start unfiltered.
    if (programme !== shown) for (const [, id] of FILTERS) $(id).value = "";
    if (programme) show(programme, filterParams());
  });

  $("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    if (shown !== null) show(shown, filterParams());
  });

  $("f-clear").addEventListener("click", () => {
    for (const [, id] of FILTERS) $(id).value = "";
    if (shown !== null) show(shown);
  });

  // #programme=49&language=sw...: the programme and filters to show.
  const fromHash = new URLSearchParams(window.location.hash.slice(1));
  const initial = new URLSearchParams();
  for (const [name] of FILTERS) if (fromHash.get(name)) initial.set(name, fromHash.get(name));
  if (/^\d+$/.test(fromHash.get("programme") || "")) $("programme").value = fromHash.get("programme");
  window.chatcourse.ready(() => { if ($("programme").value) show($("programme").value, initial); });
})();
