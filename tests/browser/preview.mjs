// The author preview in a real browser (Chromium through playwright-core).
// Run by the e2e tests `api::pages::browser_preview_*` with:
//   node preview.mjs <scenario> <base-url> <api-key> <module-file> <artifacts-dir>
// Scenarios:
//   diagnostics  paste the (broken) module: print, as one JSON line, each
//                diagnostic the page shows with the line it is shown under
//   play         paste the (valid) module: the flow picture is drawn; play
//                it by tapping, with a reminder brought by the simulated
//                clock; print the conversation as one JSON line
// Prints "ok" and exits 0 when every check passed; exits 1 with the reason.
import { readFileSync } from "node:fs";
import { conversation, fail, open } from "./browser.mjs";

const [scenario, base, key, moduleFile, artifacts] = process.argv.slice(2);
const source = readFileSync(moduleFile, "utf8");
const { browser, context, page, problems } = await open({ width: 1400, height: 1000 });

const { waitForBubble, tap, type } = conversation(page, "Learner's reply");

try {
  await page.goto(`${base}/preview`);
  // The key is asked for once, and kept for this tab only.
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Use key" }).click();
  const stored = await page.evaluate(() => window.sessionStorage.getItem("chatcourse.apiKey"));
  if (stored !== key) fail("the key is not kept in sessionStorage");
  const cookies = await context.cookies();
  if (cookies.length) fail(`the page set cookies: ${JSON.stringify(cookies)}`);
  await page.getByLabel("Module YAML").fill(source);
  await page.getByRole("button", { name: "Check" }).click();
  if (scenario === "diagnostics") {
    await page.locator("#summary.bad").waitFor({ timeout: 15000 });
    if (await page.locator("#key-form").isVisible()) fail("the key form is still shown");
    const shown = await page.$$eval(".diagnostic", (els) => els.map((e) => ({
      line: Number(e.dataset.line), column: Number(e.dataset.column), code: e.dataset.code,
      under: Number(e.closest("#listing > li").dataset.line),
      source: e.closest("#listing > li").querySelector("code").textContent,
      text: e.textContent })));
    const summary = await page.locator("#summary").textContent();
    if (!/error/.test(summary)) fail(`summary: ${summary}`);
    if (await page.locator("#start").isEnabled()) fail("a broken module can be started");
    const first = page.locator(".has-error").first();
    await first.scrollIntoViewIfNeeded();
    await page.screenshot({ path: `${artifacts}/preview-diagnostics.png` });
    console.log(JSON.stringify(shown));
  } else {
    await page.locator("#summary.ok").waitFor({ timeout: 15000 });
    // The flow picture loads and has a size.
    await page.waitForFunction(() => { const img = document.getElementById("flow");
      return !img.hidden && img.complete && img.naturalWidth > 100; }, null, { timeout: 15000 });
    const languages = await page.$$eval("#language option", (els) => els.map((e) => e.value));
    if (!languages.length) fail("no language to choose");
    await page.getByRole("button", { name: "Start", exact: true }).click();
    await waitForBubble("Reply with 1 to start.");
    // A day of silence: the reminder comes at its simulated time.
    await page.getByRole("button", { name: "+1 day" }).click();
    await waitForBubble("your course is waiting");
    await type("1", "What is the first step");
    await tap("2", "emergency without borrowing");
    await page.screenshot({ path: `${artifacts}/preview-play.png` });
    await tap("1", "Reply with 1 when you are ready");
    await type("1", "Lesson 2");
    await waitForBubble("first step to climbing the financial ladder?");
    await tap("2", "Correct!");
    await tap("1", "you have completed the Test Module Updated");
    await page.waitForFunction(() => [...document.querySelectorAll("#log .event")]
      .some((e) => e.textContent.includes("completed")), null, { timeout: 15000 });
    if (await page.getByLabel("Learner's reply").isEnabled()) fail("the reply box stays enabled after the end");
    const log = await page.$$eval("#log > *", (els) => els.map((e) => ({
      kind: e.classList.contains("event") ? "event" : e.classList.contains("sent") ? "course" : "learner",
      text: e.firstChild ? e.firstChild.textContent : "" })));
    await page.screenshot({ path: `${artifacts}/preview-done.png`, fullPage: true });
    console.log(JSON.stringify(log));
  }
  if (problems.length) fail(problems.join("; "));
  console.log("ok");
} catch (e) {
  if (!process.exitCode) console.error(`FAIL: ${e.message}`);
  process.exitCode = 1;
  await page.screenshot({ path: `${artifacts}/preview-${scenario}-failure.png`, fullPage: true }).catch(() => {});
} finally {
  await browser.close();
}
