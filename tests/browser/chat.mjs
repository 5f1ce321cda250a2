// The learner's chat page in a real browser (Chromium through
// playwright-core). Run by the e2e test `browser::learner_chat` with:
//   node chat.mjs <scenario> <base-url> <token> <artifacts-dir>
// Scenarios:
//   complete   tap through "Test Module Updated" to the end
//   reconnect  answer the first question, wait for the test to cut the
//              connection (it writes "cut" to stdin after we print
//              "ready-to-cut"), then go on: every message once, in order
//   expired    open the page with an expired token: a clear notice
// Prints "ok" and exits 0 when every check passed; exits 1 with the reason.
import { createInterface } from "node:readline";
import { conversation, fail, open } from "./browser.mjs";

const [scenario, base, token, artifacts] = process.argv.slice(2);
// A phone's screen.
const { browser, page, problems } = await open({ width: 390, height: 780 }, /WebSocket|Failed to load resource/);

const bubbles = () => page.$$eval(".bubble", (els) => els.map((e) => ({
  id: Number(e.dataset.id), kind: e.classList.contains("sent") ? "SENT" : "RECEIVED",
  text: e.firstChild ? e.firstChild.textContent : "" })));

const { waitForBubble, tap, type } = conversation(page, "Your reply");

function checkOrder(list) {
  const ids = list.map((b) => b.id);
  for (let i = 1; i < ids.length; i++) {
    if (!(ids[i] > ids[i - 1])) fail(`messages out of order or repeated: ${ids.join(",")}`);
  }
}

try {
  await page.goto(`${base}/chat?token=${encodeURIComponent(token)}`);
  if (scenario === "expired") {
    await page.locator("#notice").waitFor({ state: "visible", timeout: 15000 });
    const text = await page.locator("#notice").textContent();
    if (!/expired/.test(text)) fail(`notice: ${text}`);
    if (!(await page.getByLabel("Your reply").isDisabled())) fail("the reply box stays enabled");
    await page.screenshot({ path: `${artifacts}/chat-expired.png` });
  } else {
    await waitForBubble("Reply with 1 to start.");
    await page.screenshot({ path: `${artifacts}/chat-enrolled.png` });
    await type("1", "What is the first step");
    // Choices are buttons with the choice's text.
    const labels = await page.$$eval(".choices button", (els) => els.map((e) => e.textContent));
    if (labels.length !== 3 || !labels[1].includes("Knowing how much you earn")) fail(`choices: ${labels}`);
    await page.screenshot({ path: `${artifacts}/chat-question.png` });
    await tap("2", "emergency without borrowing");
    if (scenario === "reconnect") {
      console.log("ready-to-cut");
      const lines = createInterface({ input: process.stdin });
      for await (const line of lines) if (line.trim() === "cut") break;
      lines.close();
      process.stdin.destroy(); // nothing more to read: let node exit when done
      // The server went away and came back: the page reconnects by itself.
      await page.waitForFunction(() => document.getElementById("connection").textContent === "Connected",
        null, { timeout: 30000 });
    }
    await tap("1", "Reply with 1 when you are ready");
    await type("1", "Lesson 2");
    await waitForBubble("first step to climbing the financial ladder?", 15000);
    const post = await bubbles();
    // The post-quiz question is on screen with its buttons.
    await tap("2", "Correct!");
    await tap("1", "you have completed the Test Module Updated");
    await page.locator("#notice").waitFor({ state: "visible", timeout: 15000 });
    const notice = await page.locator("#notice").textContent();
    if (!/complete/.test(notice)) fail(`end notice: ${notice}`);
    const all = await bubbles();
    checkOrder(all);
    if (all.length < post.length + 4) fail(`too few messages: ${all.length}`);
    await page.screenshot({ path: `${artifacts}/chat-${scenario}-done.png`, fullPage: true });
    console.log(JSON.stringify(all));
  }
  if (problems.length) fail(problems.join("; "));
  console.log("ok");
} catch (e) {
  if (!process.exitCode) console.error(`FAIL: ${e.message}`);
  process.exitCode = 1;
  await page.screenshot({ path: `${artifacts}/chat-${scenario}-failure.png` }).catch(() => {});
} finally {
  await browser.close();
}
