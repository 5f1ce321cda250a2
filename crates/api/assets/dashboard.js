// The programme dashboard: GET /api/v1/fe/program/dashboard with the key,
// then, for each section the server sends, its chart (an SVG the server
// drew), its numbers as a table, and a CSV of that table. New sections
// (the programme report's) show without changes here.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const { api, problem } = window.chatcourse;
  const urls = []; // blob: URLs of the current charts and CSVs
  let shown = null; // the programme on screen

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
    el.append(table(data));
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

  async function show(programme) {
    $("status").textContent = "Loading…";
    $("status").className = "summary";
    const envelope = await api(`/api/v1/fe/program/dashboard?programIdentifier=${encodeURIComponent(programme)}`);
    while (urls.length) URL.revokeObjectURL(urls.pop());
    if (envelope.status !== 200) {
      $("status").textContent = problem(envelope);
      $("status").className = "summary bad";
      $("overview").hidden = true;
      $("sections").replaceChildren();
      $("export").disabled = true;
      return;
    }
    const data = envelope.data;
    shown = programme;
    $("status").textContent = "";
    $("programme-name").textContent = `${data.summary.program_name} (programme ${data.summary.program_identifier})`;
    $("programme-created").textContent = `Created ${data.summary.date_created}`;
    $("overview").hidden = false;
    $("sections").replaceChildren(...data.sections.map((s) => section(s, programme)));
    $("export").disabled = false;
    window.history.replaceState(null, "", `#programme=${encodeURIComponent(programme)}`);
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
    if (programme) show(programme);
  });

  const fromHash = /programme=(\d+)/.exec(window.location.hash);
  if (fromHash) $("programme").value = fromHash[1];
  window.chatcourse.ready(() => { if ($("programme").value) show($("programme").value); });
})();
