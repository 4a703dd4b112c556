// Drives the keel console in real headless Chromium (Debian's, through
// playwright-core), for tests/e2e/test_console_browser.py, which starts the
// coordinator, a worker and the workflows, and reads our stdout:
//   "WAITING <gate>"  the timeline shows the select; open the gate now
//   "OK"              every check passed (anything else on exit 1 is why not)
// Environment: KEEL_CONSOLE (URL), RACE_ID (a console_race workflow held by the
// gate), IDLE_ID (a console_idle workflow to cancel), MANY_ID and MANY_ROWS (a
// finished console_many and its timeline's rows), GATE, SHOT (PNG path),
// CHROMIUM (default /usr/bin/chromium).
"use strict";

const { chromium } = require("playwright-core");

const env = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set`);
  return process.env[name];
};
const WAIT = { timeout: 30000 };

async function main() {
  const url = env("KEEL_CONSOLE"), race = env("RACE_ID"), idle = env("IDLE_ID");
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const problems = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1360, height: 860 }, deviceScaleFactor: 1 });
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => { if (m.type() === "error") problems.push(`console error: ${m.text()}`); });

    // The list, then find the workflow by its ID.
    await page.goto(url);
    await page.locator(`[data-testid=wf-row][data-id="${race}"]`).waitFor(WAIT);
    await page.fill("[data-testid=search-id]", race);
    await page.click("[data-testid=search-go]");
    await page.locator("[data-testid=timeline]").waitFor(WAIT);
    await page.evaluate(() => { window.__sameDocument = true; }); // a reload would lose this

    // Each step, side by side for the two quotes, and the select's winner.
    for (const name of ["load_order", "quote_slow", "quote_fast"]) {
      await page.locator(`[data-testid=bar][data-name="${name}"]`).waitFor(WAIT);
    }
    const winner = page.locator("[data-testid=step-row][data-kind=SELECT] [data-testid=select-winner]");
    await winner.waitFor(WAIT);
    const fastStep = await page.locator('[data-testid=bar][data-name="quote_fast"]').getAttribute("data-step");
    const won = (await winner.textContent()).trim();
    if (won !== `→ #${fastStep}`) throw new Error(`select winner shows ${won}, want → #${fastStep}`);
    await page.locator(`[data-testid=step-row][data-step="${fastStep}"] [data-testid=winner]`).waitFor(WAIT);
    const slowRow = page.locator('[data-testid=step-row]:has([data-name="quote_slow"])');
    if (await slowRow.locator("[data-testid=winner]").count()) throw new Error("the losing quote is marked as winner");
    // The held step runs (a step task: its bar is live) and the workflow is live.
    await page.locator("[data-testid=bar].running").waitFor(WAIT);
    await page.locator(".live-dot").waitFor(WAIT);
    const stages = page.locator('[data-testid=mark-item][data-key="stage"]');
    if (await stages.count() !== 1) throw new Error(`want 1 "stage" event before the gate, see ${await stages.count()}`);

    // An event appears while we watch: no reload.
    console.log(`WAITING ${env("GATE")}`);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid=mark-item][data-key="stage"]').length === 2, null, WAIT);
    await page.locator('[data-testid=mark][data-key="stage"]').nth(1).waitFor({ state: "attached", ...WAIT });
    await page.locator("[data-testid=status]", { hasText: "SUCCESS" }).first().waitFor(WAIT);
    await page.locator('[data-testid=bar][data-name="ship"]').waitFor(WAIT);
    if (!await page.evaluate(() => window.__sameDocument)) throw new Error("the page was reloaded");
    const output = await page.locator("[data-testid=output]").textContent();
    if (!output.includes('"carrier": "fast"')) throw new Error(`output shows ${output}`);

    // The picture for the README: the finished timeline, the winning quote selected.
    await page.locator(`[data-testid=step-row][data-step="${fastStep}"] .tl-label`).click();
    await page.locator("[data-testid=detail]").waitFor(WAIT);
    await page.mouse.move(0, 0);
    await page.waitForTimeout(300); // let the "fresh" marks' animation end
    await page.screenshot({ path: env("SHOT"), fullPage: true });

    // Cancel another workflow from the page, behind the confirmation.
    await page.goto(`${url}#/workflow/${encodeURIComponent(idle)}`);
    await page.locator("[data-testid=status]", { hasText: "PENDING" }).first().waitFor(WAIT);
    await page.click("[data-testid=cancel]");
    await page.locator("#modal:not([hidden])").waitFor(WAIT);
    await page.click("[data-testid=confirm]");
    await page.locator("[data-testid=status]", { hasText: "CANCELLED" }).first().waitFor(WAIT);
    await page.goto(`${url}#/workflows?status=CANCELLED`);
    await page.locator(`[data-testid=wf-row][data-id="${idle}"] [data-testid=status]`, { hasText: "CANCELLED" }).waitFor(WAIT);

    // A timeline of 300 steps (and 30 selects) draws every row.
    await page.goto(`${url}#/workflow/${encodeURIComponent(env("MANY_ID"))}`);
    await page.locator("[data-testid=status]", { hasText: "SUCCESS" }).first().waitFor(WAIT);
    const rows = await page.locator("[data-testid=step-row]").count();
    if (rows !== Number(env("MANY_ROWS"))) throw new Error(`the large timeline has ${rows} rows, want ${env("MANY_ROWS")}`);

    // The workers page shows the worker and what it serves.
    await page.goto(`${url}#/workers`);
    await page.locator("[data-testid=worker-row]", { hasText: "quote_fast" }).waitFor(WAIT);
  } finally {
    await browser.close();
  }
  if (problems.length) throw new Error(problems.join("\n"));
  console.log("OK");
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
