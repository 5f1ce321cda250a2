// The programme dashboard in a real browser (Chromium through
// playwright-core). Run by the e2e test `api::pages::browser_dashboard_*`:
//   node dashboard.mjs <base-url> <api-key> <programme> <artifacts-dir>
// Opens /dashboard, gives the key and the programme, waits for the
// figures, checks each chart image loaded and each CSV link, and prints
// the tables as one JSON line {section: [[label, value], ...]}; then
// filters by enrolment date (nobody enrolled before 2000: 0 learners),
// by the language the filter lists, and clears the filters, printing the
// Enrolled count seen after each as a line `filtered: a b c`.
// Prints "ok" and exits 0 when every check passed; exits 1 with the reason.
import { readFileSync } from "node:fs";
import { fail, open } from "./browser.mjs";

const [base, key, programme, artifacts] = process.argv.slice(2);
const window_hash_ok = (hash) => hash.includes("until=2000-01-01") && hash.includes(`programme=${programme}`);
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

  // The filters: a date range, a language from the list, then none.
  const enrolled = async () => page.locator("table[data-section=status] tbody tr").first().locator("td").textContent();
  const reload = async (action) => {
    const done = page.waitForResponse((r) => r.url().includes("/api/v1/fe/program/dashboard"), { timeout: 15000 });
    await action();
    await done;
    await page.locator("table[data-section=status]").waitFor({ timeout: 15000 });
  };
  await page.getByLabel("to", { exact: true }).fill("2000-01-01");
  await reload(() => page.getByRole("button", { name: "Apply filters" }).click());
  const none = await enrolled();
  if (!window_hash_ok(await page.evaluate(() => window.location.hash))) fail("the filter is not in the address");
  await page.getByLabel("to", { exact: true }).fill("");
  const languages = await page.locator("#f-language option").evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
  if (languages.length === 0) fail("no language to filter by");
  await page.getByLabel("Language", { exact: true }).selectOption(languages[0]);
  await reload(() => page.getByRole("button", { name: "Apply filters" }).click());
  const inLanguage = await enrolled();
  await page.screenshot({ path: `${artifacts}/dashboard-filtered.png`, fullPage: true });
  await reload(() => page.getByRole("button", { name: "Clear filters" }).click());
  const all = await enrolled();
  if ((await page.getByLabel("Language", { exact: true }).inputValue()) !== "") fail("the language filter was not cleared");
  console.log(`filtered: ${none} ${inLanguage} ${all}`);
  if (problems.length) fail(problems.join("; "));
  console.log("ok");
} catch (e) {
  if (!process.exitCode) console.error(`FAIL: ${e.message}`);
  process.exitCode = 1;
  await page.screenshot({ path: `${artifacts}/dashboard-failure.png`, fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}
