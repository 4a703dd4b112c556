// Keeps the keel console open on one page in headless Chromium, as a person
// watching would, until stdin closes (bench/workloads/console.py).
// Prints "WATCHING" once the page shows a timeline. Environment: KEEL_PAGE
// (the console URL with its #/workflow/ID), CHROMIUM (default /usr/bin/chromium).
"use strict";

const { chromium } = require("playwright-core");

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage({ viewport: { width: 1360, height: 860 } });
  await page.goto(process.env.KEEL_PAGE);
  await page.locator("[data-testid=timeline]").waitFor({ timeout: 30000 });
  console.log("WATCHING");
  process.stdin.resume();
  process.stdin.on("end", async () => { await browser.close(); process.exit(0); });
})().catch((e) => { console.error(e && e.stack ? e.stack : String(e)); process.exit(1); });
