// Real-browser scenarios for the website widget, in Debian's headless Chromium.
// Run by tests/test_widget_browser.py:  node widget.test.mjs <scenario>
// Env: BASE_URL (running assistant), SCREENSHOT_DIR, DEMO_NAME, DEMO_DOB, CHROMIUM.
// Prints one JSON line {"ok": true, ...} on success; throws (exit 1) with the reason otherwise.
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import http from "node:http";
import path from "node:path";

const require = createRequire(import.meta.url);
const AXE = require.resolve("axe-core/axe.min.js");
const BASE = process.env.BASE_URL || "http://127.0.0.1:5905";
const SHOTS = process.env.SCREENSHOT_DIR || "results/screenshots";
const NAME = process.env.DEMO_NAME;
const DOB = process.env.DEMO_DOB;
const TURN_MS = 45000;
mkdirSync(SHOTS, { recursive: true });

function check(condition, message) { if (!condition) { throw new Error(message); } }

async function shot(page, name) { await page.screenshot({ path: path.join(SHOTS, `widget-${name}.png`), fullPage: false }); }

async function openWidget(page, url = BASE + "/") {
  await page.goto(url);
  await page.click(".msw-launcher");
  await page.waitForSelector(".msw-panel:not([hidden])");
}

// Wait until the transcript has a bot message containing `text`; returns all bot texts.
async function bot(page, text) {
  await page.waitForFunction(
    (t) => [...document.querySelectorAll(".msw-bot")].some((e) => e.textContent.includes(t)),
    text, { timeout: TURN_MS });
  return page.$$eval(".msw-bot", (els) => els.map((e) => e.textContent));
}

// Bot messages arrive one by one; wait until the bot has finished its turn.
async function idle(page) {
  await page.waitForFunction(() => document.querySelector(".msw-typing").hidden, null, { timeout: TURN_MS });
  await page.waitForTimeout(150);
}

async function say(page, text) {
  await page.fill(".msw-input", text);
  await page.press(".msw-input", "Enter");
  await page.waitForFunction(() => !document.querySelector(".msw-pending"), null, { timeout: TURN_MS });
}

async function transcript(page) {
  return page.$$eval(".msw-msg", (els) => els.map((e) => e.textContent));
}

// No message shown twice: every line of the transcript is unique here (the flows below never
// repeat a sentence), so a duplicate means the dedupe broke.
async function noDuplicates(page) {
  const lines = await transcript(page);
  const dupes = lines.filter((l, i) => lines.indexOf(l) !== i);
  check(dupes.length === 0, "messages shown twice: " + JSON.stringify(dupes));
  return lines;
}

async function verify(page) {
  await bot(page, "full name");
  await say(page, NAME);
  await bot(page, "date of birth");
  await say(page, DOB);
  const after = await bot(page, "verified");
  return after;
}

const scenarios = {
  async book(browser) {
    const page = await browser.newPage();
    await openWidget(page);
    await bot(page, "automated assistant");
    await page.click(".msw-reply >> text=Book an appointment");
    await verify(page);
    await idle(page);
    let last = (await transcript(page)).at(-1);
    if (last.includes("Who is the appointment for")) { await say(page, "myself"); await bot(page, "What kind of visit"); }
    await idle(page);
    await say(page, "1");
    await bot(page, "clinician");
    await idle(page);
    await say(page, "no preference");
    await bot(page, "When would suit you");
    await idle(page);
    await say(page, "next week afternoon");
    await bot(page, "Here are the times");
    await idle(page);
    const replies = await page.$$(".msw-reply");
    check(replies.length >= 2, "no time slots offered as quick replies");
    await replies[1].click();
    await bot(page, "Reply yes to confirm");
    await idle(page);
    await say(page, "yes");
    const texts = await bot(page, "You're booked");
    await idle(page);
    await shot(page, "booked");
    await noDuplicates(page);
    const reference = texts.join("\n").match(/APT-[A-Z0-9]+/)[0];
    return { reference };
  },

  async reload_and_second_tab(browser) {
    const context = await browser.newContext();
    const page = await context.newPage();
    await openWidget(page);
    await bot(page, "automated assistant");
    await idle(page);
    await say(page, "I'd like to book an appointment");
    await bot(page, "full name");
    await idle(page);
    const before = await transcript(page);
    await page.reload();
    // The panel reopens and the server replays the conversation, each message once.
    await page.waitForFunction((n) => document.querySelectorAll(".msw-msg").length >= n, before.length, { timeout: TURN_MS });
    await page.waitForTimeout(500);
    const after = await noDuplicates(page);
    check(JSON.stringify(after) === JSON.stringify(before), "transcript changed over reload: " + JSON.stringify({ before, after }));
    await say(page, NAME);
    await bot(page, "date of birth");
    await idle(page);
    // A second tab joins the same conversation and sees it, then carries on from there.
    const tab2 = await context.newPage();
    await openWidget(tab2);
    await tab2.waitForFunction((n) => document.querySelectorAll(".msw-msg").length >= n, after.length + 2, { timeout: TURN_MS });
    await say(tab2, DOB);
    await bot(tab2, "verified");
    await bot(page, "verified"); // pushed to the first tab too
    await idle(page);
    await idle(tab2);
    await shot(page, "after-reload");
    const one = await noDuplicates(page), two = await noDuplicates(tab2);
    check(JSON.stringify(one) === JSON.stringify(two), "the two tabs disagree: " + JSON.stringify({ one, two }));
    return { messages: one.length };
  },

  async reconnect(browser) {
    const page = await browser.newPage();
    await openWidget(page);
    await bot(page, "automated assistant");
    await idle(page);
    // The connection drops; a message typed meanwhile waits, then goes once it is back.
    await page.evaluate(() => window.__clinicWidget.drop());
    await page.fill(".msw-input", "I'd like to book an appointment");
    await page.press(".msw-input", "Enter");
    await bot(page, "full name");
    await idle(page);
    await page.evaluate(() => window.__clinicWidget.drop());
    await page.waitForTimeout(300);
    await say(page, NAME);
    await bot(page, "date of birth");
    await idle(page);
    await shot(page, "reconnect");
    const lines = await noDuplicates(page);
    check(lines.filter((l) => l.includes("book an appointment")).length === 1, "the message was sent twice or lost");
    return { messages: lines.length };
  },

  async end_chat(browser) {
    const page = await browser.newPage();
    await openWidget(page);
    await bot(page, "automated assistant");
    await idle(page);
    await say(page, "I'd like to book an appointment");
    await bot(page, "full name");
    await idle(page);
    const before = await page.evaluate(() => JSON.parse(Object.entries(localStorage).find(([k]) => k.startsWith("clinic-widget:"))[1]).cid);
    await page.click(".msw-tools >> text=End chat");
    check(await page.isHidden(".msw-panel"), "End chat does not close the chat");
    check(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("clinic-widget:")).length === 0),
      "End chat left the session in localStorage");
    // Reopening starts a new conversation: nothing of the old one is shown.
    await page.click(".msw-launcher");
    await bot(page, "automated assistant");
    await idle(page);
    const lines = await transcript(page);
    check(!lines.some((l) => l.includes("book an appointment") && l.startsWith("You")), "the ended chat is still shown");
    const after = await page.evaluate(() => JSON.parse(Object.entries(localStorage).find(([k]) => k.startsWith("clinic-widget:"))[1]).cid);
    check(after !== before, "End chat kept the same conversation");
    await shot(page, "end-chat");
    return {};
  },

  // A tab left open on a shared screen: after the session's idle limit (30 minutes here) the
  // transcript is cleared from the page and the browser, in every open tab.
  async idle_clears(browser) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const other = await context.newPage();
    await page.clock.install();
    await other.clock.install();
    await openWidget(page);
    await bot(page, "automated assistant");
    await idle(page);
    await say(page, "I'd like to book an appointment");
    await bot(page, "full name");
    await idle(page);
    await openWidget(other);
    await bot(other, "full name");  // the second tab shows the same conversation
    await page.clock.fastForward("29:00");
    check((await transcript(page)).some((l) => l.includes("book an appointment")), "cleared before the idle limit");
    // The other tab lives on the same wall clock; its own timers are left to the page's clearing.
    await other.clock.setSystemTime(new Date(Date.now() + 31 * 60 * 1000));
    await page.clock.fastForward("02:00");
    await page.waitForFunction(() => document.querySelectorAll(".msw-msg").length === 0, null, { timeout: 5000 });
    const status = await page.textContent(".msw-status");
    check(status.includes("cleared after 30 minutes"), "no word on why the chat was cleared: " + status);
    check(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith("clinic-widget:")).length === 0),
      "the idle conversation is still in localStorage");
    await other.waitForFunction(() => document.querySelectorAll(".msw-msg").length === 0, null, { timeout: 5000 });
    check((await other.textContent(".msw-status")).includes("cleared after 30 minutes"), "the other tab did not say why");
    await shot(page, "idle-cleared");
    // Typing again starts a new conversation, with nothing of the old one.
    await say(page, "hello");
    await bot(page, "automated assistant");
    check(!(await transcript(page)).some((l) => l.includes("book an appointment")), "the old conversation came back");
    await context.close();
    return {};
  },

  async keyboard_only(browser) {
    const page = await browser.newPage();
    await page.goto(BASE + "/");
    const focusedIs = (sel) => page.evaluate((s) => document.activeElement === document.querySelector(s), sel);
    let found = false;
    for (let i = 0; i < 30 && !found; i++) { await page.keyboard.press("Tab"); found = await focusedIs(".msw-launcher"); }
    check(found, "the chat launcher cannot be reached with Tab");
    await page.keyboard.press("Enter");
    check(await focusedIs(".msw-input"), "opening the chat does not put focus in the message box");
    await bot(page, "automated assistant");
    await idle(page);
    // The greeting's quick replies: Shift+Tab from the message box reaches the last one.
    await page.keyboard.press("Shift+Tab");
    const label = await page.evaluate(() => document.activeElement.textContent);
    check(label === "Talk to a person", "Shift+Tab from the input reached " + JSON.stringify(label));
    await page.keyboard.press("Enter");
    check(await focusedIs(".msw-input"), "after a quick reply, focus is not back in the message box");
    await bot(page, "What number should the team call you on?");
    await idle(page);
    await page.keyboard.type("312 555 0142");
    await page.keyboard.press("Enter");
    await page.waitForFunction(() => /reference HO-|good time for the call/.test(document.querySelector(".msw-log").textContent), null, { timeout: TURN_MS });
    await idle(page);
    if (!(await page.textContent(".msw-log")).includes("reference HO-")) {
      await page.keyboard.type("tomorrow morning");
      await page.keyboard.press("Enter");
      await bot(page, "callback request is in");
    }
    await idle(page);
    await shot(page, "keyboard");
    await page.keyboard.press("Escape");
    check(await page.isHidden(".msw-panel"), "Escape does not close the chat");
    check(await focusedIs(".msw-launcher"), "closing the chat does not return focus to the launcher");
    return {};
  },

  async xss_is_text(browser) {
    const page = await browser.newPage();
    let dialogs = 0;
    page.on("dialog", (d) => { dialogs += 1; d.dismiss(); });
    await openWidget(page);
    await bot(page, "automated assistant");
    await idle(page);
    const markup = '<img src=x onerror="window.__xss=1;alert(1)"><script>window.__xss=2</script><b>bold</b>';
    await say(page, markup);
    await idle(page);
    const shown = await page.$$eval(".msw-user", (els) => els.map((e) => e.textContent));
    check(shown.some((t) => t === "You: " + markup), "the markup is not shown verbatim as text: " + JSON.stringify(shown));
    const injected = await page.$$eval(".msw-log img, .msw-log script, .msw-log b", (els) => els.length);
    check(injected === 0, `${injected} element(s) from the message were created`);
    check(await page.evaluate(() => window.__xss === undefined), "script from the message ran");
    check(dialogs === 0, "an alert() from the message ran");
    await shot(page, "xss");
    return {};
  },

  async origin_refused(browser) {
    // A page on an origin the assistant does not allow (another port), embedding the widget
    // with the same tag. Served for real: Chromium won't let a mocked page reach loopback.
    const html = `<!doctype html><html lang="en"><head><title>Elsewhere</title></head><body><main><h1>Another site</h1></main>
      <script src="${BASE}/widget/widget.js" data-practice="Maple Street Family Clinic"></script></body></html>`;
    const server = http.createServer((req, res) => { res.writeHead(200, { "Content-Type": "text/html" }); res.end(html); });
    await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
    const page = await browser.newPage();
    try {
      await openWidget(page, `http://127.0.0.1:${server.address().port}/`);
      await page.waitForFunction(() => document.querySelector(".msw-error").textContent.includes("isn't set up to use"), null, { timeout: TURN_MS });
      const error = await page.textContent(".msw-error");
    check(/call .*\d/.test(error), "the refusal does not say what to do next: " + error);
      check((await page.$$(".msw-bot")).length === 0, "the refused page still got a conversation");
      await shot(page, "origin-refused");
      return { error };
    } finally {
      server.close();
    }
  },

  async rate_limited(browser) {
    const page = await browser.newPage();
    await openWidget(page);
    await bot(page, "automated assistant");
    await idle(page);
    // 21 messages as fast as a (very fast) person can press Enter; the limit is 20 a minute.
    for (let i = 1; i <= 21; i++) {
      await page.fill(".msw-input", `thanks ${i}`);
      await page.press(".msw-input", "Enter");
    }
    await page.waitForFunction(() => document.querySelector(".msw-error").textContent.includes("faster than"), null, { timeout: TURN_MS });
    const error = await page.textContent(".msw-error");
    check(/wait \d+ seconds/.test(error), "the rate-limit message does not say how long to wait: " + error);
    const restored = await page.inputValue(".msw-input");
    check(restored === "thanks 21", "the refused message was not given back to the patient: " + restored);
    await shot(page, "rate-limited");
    return { error };
  },

  async axe(browser) {
    const page = await browser.newPage();
    await openWidget(page);
    await bot(page, "automated assistant");
    await idle(page);
    await page.addScriptTag({ path: AXE });
    const results = await page.evaluate(async () => {
      const r = await window.axe.run(document, { resultTypes: ["violations"] });
      return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) }));
    });
    const bad = results.filter((v) => v.impact === "serious" || v.impact === "critical");
    check(bad.length === 0, "axe serious/critical violations: " + JSON.stringify(bad));
    await shot(page, "axe");
    return { violations: results };
  },

  async small_screens(browser) {
    const out = {};
    for (const [name, options] of [
      ["360px", { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true }],
      // 200% zoom of a 1280x720 window: the page lays out in 640x360 CSS pixels.
      ["zoom200", { viewport: { width: 640, height: 360 }, deviceScaleFactor: 2 }],
    ]) {
      const context = await browser.newContext(options);
      const page = await context.newPage();
      await openWidget(page);
      await bot(page, "automated assistant");
      await idle(page);
      const vw = options.viewport.width, vh = options.viewport.height;
      for (const sel of [".msw-input", ".msw-send", ".msw-tools button >> nth=0", ".msw-tools button >> nth=1", ".msw-icon", ".msw-banner"]) {
        const box = await page.locator(sel).boundingBox();
        check(box && box.x >= 0 && box.y >= 0 && box.x + box.width <= vw + 0.5 && box.y + box.height <= vh + 0.5,
          `${name}: ${sel} is not fully on screen: ${JSON.stringify(box)}`);
      }
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(overflow <= 0, `${name}: the page scrolls sideways by ${overflow}px`);
      await say(page, "I'd like to book an appointment");
      await bot(page, "full name");
      await idle(page);
      await page.addScriptTag({ path: AXE });
      const bad = await page.evaluate(async () => (await window.axe.run(document)).violations
        .filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => v.id));
      check(bad.length === 0, `${name}: axe serious/critical violations: ${bad}`);
      await shot(page, name);
      out[name] = "ok";
      await context.close();
    }
    return out;
  },
};

const name = process.argv[2];
if (!scenarios[name]) { console.error("unknown scenario; one of: " + Object.keys(scenarios).join(", ")); process.exit(2); }
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"], // root in a container has no user namespace sandbox
});
try {
  const result = await scenarios[name](browser);
  console.log(JSON.stringify({ ok: true, scenario: name, ...result }));
} finally {
  await browser.close();
}
