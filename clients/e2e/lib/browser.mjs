// Debian's Chromium driven by playwright-core: nothing downloads a browser.
// Playwright gives each launch a fresh --user-data-dir of its own (a temp
// directory it deletes), and each context a fresh profile.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { ARTIFACTS } from "./stack.mjs";

export const CHROMIUM = process.env.KITCHEN_CHROMIUM ?? "/usr/bin/chromium";
const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function launch() {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

/** Saves a screenshot of `page` under target/e2e/. */
export async function screenshot(page, name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
}

/**
 * Opens the console in a new context, logs in, and waits until it is live.
 * Records every request the page makes (`page.requests`).
 */
export async function openConsole(browser, stack, { tenantId, email, password }) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  page.requests = [];
  page.on("request", (request) => page.requests.push({ method: request.method(), url: request.url(), at: Date.now() }));
  page.consoleMessages = [];
  page.on("console", (message) => page.consoleMessages.push(message.text()));
  await page.goto(`${stack.consoleUrl}?tenant=${tenantId}`);
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  await page.click("button[type=submit]");
  await page.getByTestId("connection").filter({ hasText: "live" }).waitFor({ timeout: 20_000 });
  return page;
}

/** The seqs in the page's event log and those its onEvent was called with. */
export async function seqsOf(page) {
  return page.evaluate(() => ({
    log: [...document.querySelectorAll("[data-testid=event-log] li")].map((li) => Number(li.dataset.seq)).reverse(),
    received: [...(window.kitchen?.received ?? [])],
  }));
}
