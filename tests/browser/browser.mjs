// What the browser scenarios share: Debian's Chromium through
// playwright-core (no browser download), a page whose script errors are
// collected, and failing with a reason.
import { chromium } from "playwright-core";

export function fail(message) {
  console.error(`FAIL: ${message}`);
  process.exitCode = 1;
  throw new Error(message);
}

// A headless Chromium with one page of `viewport`; `problems` collects the
// page's script errors and console errors (but those `ignore` matches).
export async function open(viewport, ignore = /^$/) {
  const executablePath = process.env.CHATCOURSE_BROWSER || "/usr/bin/chromium";
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport, deviceScaleFactor: 1 });
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => { if (m.type() === "error" && !ignore.test(m.text())) problems.push(`console: ${m.text()}`); });
  return { browser, context, page, problems };
}

// Talking to a chat on `page`: wait for a course message, tap a choice
// button, type a reply in the box labelled `replyLabel`.
export function conversation(page, replyLabel) {
  async function waitForBubble(text, timeout = 15000) {
    await page.waitForFunction((t) => [...document.querySelectorAll(".bubble.sent")]
      .some((e) => e.firstChild && e.firstChild.textContent.includes(t)), text, { timeout });
  }
  async function tap(number, expect) {
    const button = page.locator(`.choices button[data-choice="${number}"]`);
    await button.waitFor({ timeout: 15000 });
    await button.click();
    if (expect) await waitForBubble(expect);
  }
  async function type(text, expect) {
    await page.getByLabel(replyLabel).fill(text);
    await page.keyboard.press("Enter");
    if (expect) await waitForBubble(expect);
  }
  return { waitForBubble, tap, type };
}
