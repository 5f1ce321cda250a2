// The programme dashboard in a real browser (Chromium through
// playwright-core). Run by the e2e test `api::pages::browser_dashboard_*`:
//   node dashboard.mjs <base-url> <api-key> <programme> <artifacts-dir>
// Opens /dashboard, gives the key and the programme, waits for the
// figures, checks each chart image loaded and each CSV link, and prints
// the tables as one JSON line {section: [[label, value], ...]}.
// Prints "ok" and exits 0 when every check passed; exits 1 with the reason.
import { readFileSync } from "node:fs";
import { fail, open } from "./browser.mjs";

const [base, key, programme, artifacts] = process.argv.slice(2);
const { browser, page, problems } = await open({ width: 1280, height: 900 });

try {
  await page.goto(`${base}/dashboard`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Use key" }).click();
  await page.getByLabel("Programme identifier").fill(programme);
  await page.getByRole("button", { name: "Show", exact: true }).click();
  await page.locator("table[data-section=status]").waitFor({ timeout: 15000 });
  // Every chart is a loaded picture.
  await page.waitForFunction(() => [...document.querySelectorAll("img.chart")]
    .every((img) => img.complete && img.naturalWidth > 100), null, { timeout: 15000 });
  const charts = await page.locator("img.chart").count();
  if (charts < 2) fail(`charts: ${charts}`);
  const tables = await page.$$eval("table[data-section]", (els) => Object.fromEntries(els.map((t) => [
    t.dataset.section,
    [...t.tBodies[0].rows].map((r) => [...r.cells].map((c) => c.textContent)),
  ])));
  // Each figure's CSV link holds its table.
  const [download] = await Promise.all([
    page.waitForEvent("download", { timeout: 15000 }),
    page.locator("#section-status a[download]").click(),
  ]);
  const csv = { name: download.suggestedFilename(), text: readFileSync(await download.path(), "utf8") };
  if (!csv.name.endsWith("-status.csv") || !csv.text.startsWith("Status,Learners\nEnrolled,")) fail(`csv: ${JSON.stringify(csv)}`);
  await page.screenshot({ path: `${artifacts}/dashboard.png`, fullPage: true });
  console.log(JSON.stringify(tables));
  if (problems.length) fail(problems.join("; "));
  console.log("ok");
} catch (e) {
  if (!process.exitCode) console.error(`FAIL: ${e.message}`);
  process.exitCode = 1;
  await page.screenshot({ path: `${artifacts}/dashboard-failure.png`, fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}
