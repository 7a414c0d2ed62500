// Checks a running `scripts/dev-up` stack the way a new user meets it (issue
// 14's "done when"): the console at the printed URL, logged in as the demo
// household's admin with the printed password, in two headless-Chromium pages;
// an order placed in one shows in the other and moves live when advanced.
//
//   node clients/e2e/devup-check.mjs [consoleUrl]
// Defaults: http://127.0.0.1:8080/console/, the demo household and admin of
// scripts/dev-up (KITCHEN_DEMO_ADMIN_PASSWORD as there). Exit 0 when every
// step held; screenshots in target/e2e/devup-*.png.
import assert from "node:assert/strict";
import { launch, screenshot } from "./lib/browser.mjs";
import { eventually } from "./lib/stack.mjs";

const consoleUrl = process.argv[2] ?? "http://127.0.0.1:8080/console/";
const demo = {
  tenantId: process.env.KITCHEN_DEMO_TENANT ?? "7d4f4a52-4b44-4b9e-9a0e-0e5f2b7c1a11",
  email: process.env.KITCHEN_DEMO_ADMIN_EMAIL ?? "admin@demo.kitchen",
  password: process.env.KITCHEN_DEMO_ADMIN_PASSWORD ?? "demo-admin-change-me",
};

/** A page at the console's own URL, logged in by typing the demo admin's email and password. */
async function logIn(browser) {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  await page.goto(consoleUrl);
  // The login form names the demo household by default: a new user types only
  // the email and password dev-up printed.
  assert.equal(await page.inputValue("input[name=tenant]"), demo.tenantId, "the login form does not default to the demo household");
  await page.fill("input[name=email]", demo.email);
  await page.fill("input[name=password]", demo.password);
  await page.click("button[type=submit]");
  await page.getByTestId("connection").filter({ hasText: "live" }).waitFor({ timeout: 20_000 });
  return page;
}

const browser = await launch();
try {
  const placing = await logIn(browser);
  const watching = await logIn(browser);
  assert.equal(await placing.getByTestId("role").textContent(), "admin");
  // The demo menu came from the provisioning saga (Menu events on the log).
  const dish = await eventually("a dish on the demo menu", () => placing.locator("[data-dish]").first().getAttribute("data-dish"), 10_000);

  const before = new Set(await watching.getByTestId("order").evaluateAll((cards) => cards.map((c) => c.dataset.orderId)));
  const notices = placing.locator("[data-testid=notice]", { hasText: "new order:" });
  const earlier = await notices.count();
  await placing.fill("input[name=dish]", dish);
  await placing.click("form[aria-label='new order'] button[type=submit]");
  const outcome = await eventually("the new order's outcome", async () => ((await notices.count()) > earlier ? notices.first().textContent() : null), 15_000);
  assert.match(outcome, /new order: succeeded/);

  // The other page sees the new order live, then sees it move.
  const orderId = await eventually(
    "the new order on the second page",
    async () => (await watching.getByTestId("order").evaluateAll((cards) => cards.map((c) => c.dataset.orderId))).find((id) => !before.has(id)),
    5_000,
  );
  await watching.locator(`[data-order-id="${orderId}"][data-status=placed]`).waitFor({ timeout: 5_000 });
  await placing.locator(`[data-order-id="${orderId}"]`).getByTestId("advance").click();
  await watching.locator(`[data-order-id="${orderId}"][data-status=confirmed]`).waitFor({ timeout: 5_000 });
  await screenshot(watching, "devup-board");
  console.log(`ok: ${demo.email} logged in at ${consoleUrl}; order ${orderId} (${dish}) placed in one page, seen placed then confirmed in the other`);
} finally {
  await browser.close();
}
