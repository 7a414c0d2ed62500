// The household console in headless Chromium against the real services
// (issue 14, item 5). One stack for the file; the scenarios run in order and
// share two households, A and B.
import assert from "node:assert/strict";
import { createServer, request as httpRequest } from "node:http";
import { after, before, describe, test } from "node:test";
import { launch, openConsole, screenshot, seqsOf } from "../lib/browser.mjs";
import { eventually, freePort, sleep, startStack } from "../lib/stack.mjs";

// Short enough that a token expires during the token scenario; the SDK
// refreshes at 75% of it, realtime closes a socket at its expiry (4001).
const TOKEN_TTL_SECS = 20;
const PASSWORD = "e2e-password-1234";
const COMMAND_BY_ID = /\/v1\/commands\/[0-9a-f-]{36}$/;

let stack;
let browser;
const households = {};
const pages = {};

/** A WebSocket upgrade request with this Origin, answered as plain HTTP (fetch may not send Upgrade). */
function upgradeWithOrigin(port, origin, token) {
  return new Promise((resolve, reject) => {
    const request = httpRequest({
      host: "127.0.0.1",
      port,
      path: "/v1/stream?after=0",
      headers: {
        Origin: origin,
        Authorization: `Bearer ${token}`,
        Connection: "Upgrade",
        Upgrade: "websocket",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
      },
    });
    request.on("upgrade", (response, socket) => {
      socket.destroy();
      resolve({ status: response.statusCode, body: "" });
    });
    request.on("response", (response) => {
      let body = "";
      response.on("data", (chunk) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode, body }));
    });
    request.on("error", reject);
    request.end();
  });
}

function expectEachOnce(seqs, label) {
  assert.deepEqual([...new Set(seqs)], seqs, `${label}: a seq appeared twice: ${seqs}`);
  for (let i = 1; i < seqs.length; i++) assert.equal(seqs[i], seqs[i - 1] + 1, `${label}: out of order or a gap: ${seqs}`);
}

/** Places an order from the page's form; returns the text of its outcome notice. */
async function placeOrder(page, dish = "e2e-stew") {
  const mine = page.locator("[data-testid=notice]", { hasText: "new order:" });
  const earlier = await mine.count();
  await page.fill("input[name=dish]", dish);
  await page.click("form[aria-label='new order'] button[type=submit]");
  // Notices are newest first.
  return eventually("the new order's outcome", async () => ((await mine.count()) > earlier ? mine.first().textContent() : null), 15_000);
}

before(async () => {
  stack = await startStack({ accessTokenTtlSecs: TOKEN_TTL_SECS });
  browser = await launch();
  for (const name of ["a", "b"]) {
    const email = `admin@${name}.e2e`;
    households[name] = { tenantId: await stack.provision({ name: `Household ${name}`, email, password: PASSWORD }), email, password: PASSWORD };
    households[name].token = await stack.devToken(households[name].tenantId);
  }
});

after(async () => {
  await browser?.close();
  await stack?.stop();
});

describe("the household console", () => {
  test("an admin adds a dish; an order placed in one page of A shows in A's other page, never in B's", async () => {
    pages.a1 = await openConsole(browser, stack, households.a);
    pages.a2 = await openConsole(browser, stack, households.a);
    pages.b = await openConsole(browser, stack, households.b);
    const bSeq = await pages.b.getByTestId("seq").textContent();
    assert.equal(await pages.a1.getByTestId("role").textContent(), "admin");

    await pages.a1.fill("[data-testid=add-dish] input[name=menuItemId]", "e2e-stew");
    await pages.a1.fill("[data-testid=add-dish] input[name=name]", "Stew of the e2e test");
    await pages.a1.click("[data-testid=add-dish] button[type=submit]");
    await pages.a1.locator("[data-testid=notice]", { hasText: "add e2e-stew: succeeded" }).waitFor({ timeout: 10_000 });
    // The menu view of the other page follows the stream.
    await pages.a2.locator("[data-dish=e2e-stew]").waitFor({ timeout: 5_000 });

    const outcome = await placeOrder(pages.a1);
    assert.match(outcome, /new order: succeeded \(seq \d+\)/);
    const began = Date.now();
    const card = pages.a2.locator("[data-testid=column-placed] [data-testid=order]");
    await card.first().waitFor({ timeout: 5_000 });
    console.log(`# order seen on A's second page ${Date.now() - began} ms after the first page's outcome`);
    const orderId = await card.first().getAttribute("data-order-id");
    households.a.orderId = orderId;

    // B: nothing of A's, ever (B's log stays empty while A's moved).
    await sleep(1_000);
    assert.equal(await pages.b.getByTestId("order").count(), 0);
    assert.equal(await pages.b.locator("[data-testid=event-log] li").count(), 0);
    assert.equal(await pages.b.getByTestId("seq").textContent(), bSeq);
    assert.equal(await pages.b.locator(`[data-order-id="${orderId}"]`).count(), 0);
    await screenshot(pages.a2, "board-household-a");
    await screenshot(pages.b, "board-household-b");
  });

  test("an accepted command resolves by the socket (no GET /v1/commands/{id}); a rejection shows its reason", async () => {
    const page = pages.a1;
    const from = page.requests.length;
    const order = page.locator(`[data-order-id="${households.a.orderId}"]`);
    for (const status of ["confirmed", "preparing"]) {
      await order.getByTestId("advance").click();
      await pages.a1.locator(`[data-order-id="${households.a.orderId}"][data-status=${status}]`).waitFor({ timeout: 5_000 });
    }
    // Once preparing, an order cannot be cancelled: the domain says why.
    await page.locator(`[data-order-id="${households.a.orderId}"]`).getByTestId("cancel").click();
    const rejected = page.locator("[data-testid=notice][data-kind=rejected]");
    await rejected.first().waitFor({ timeout: 5_000 });
    assert.match(await rejected.first().textContent(), /cancel: rejected — order cannot be cancelled once it is preparing \(order_not_cancellable\)/);
    const notices = await page.getByTestId("notice").allTextContents();
    assert.ok(notices.some((n) => /advance to preparing: succeeded/.test(n)), notices.join("\n"));
    // The other page saw the order move too.
    await pages.a2.locator(`[data-order-id="${households.a.orderId}"][data-status=preparing]`).waitFor({ timeout: 5_000 });

    const polled = page.requests.slice(from).filter((r) => r.method === "GET" && COMMAND_BY_ID.test(r.url));
    assert.deepEqual(polled, [], "the happy path asked the gateway for an outcome");
    const posts = page.requests.slice(from).filter((r) => r.method === "POST" && r.url.endsWith("/v1/commands"));
    assert.equal(posts.length, 3);
    assert.equal(await page.getByTestId("connection").textContent(), "live");
    await screenshot(page, "board-after-rejection");
  });

  test("a member sees the menu but cannot change it", async () => {
    const member = { email: "member@a.e2e", password: PASSWORD };
    const added = await stack.api(households.a.token, "POST", "/v1/members", {
      email: member.email,
      displayName: "Member",
      password: member.password,
      role: "member",
    });
    assert.equal(added.status, 201, JSON.stringify(added.body));
    const page = await openConsole(browser, stack, { ...households.a, ...member });
    assert.equal(await page.getByTestId("role").textContent(), "member");
    await page.locator("[data-dish=e2e-stew]").waitFor({ timeout: 5_000 });
    assert.equal(await page.getByTestId("add-dish").count(), 0);
    assert.equal(await page.locator("[data-dish=e2e-stew] button").count(), 0);
    await page.context().close();
  });

  test("realtime killed and restarted: the page shows reconnecting, then every missed event once", async () => {
    const page = pages.a2;
    const before = await seqsOf(page);
    await stack.kill("realtime");
    await page.getByTestId("connection").filter({ hasText: "reconnecting" }).waitFor({ timeout: 5_000 });
    await screenshot(page, "reconnecting");

    // Events committed while realtime is down.
    const missed = [];
    for (let i = 0; i < 3; i++) {
      const done = await stack.command(households.a.token, "createOrder", {
        orderId: crypto.randomUUID(),
        userId: "e2e-driver",
        items: [{ menuItemId: "e2e-stew", quantity: i + 1 }],
      });
      assert.equal(done.status, "succeeded");
      missed.push(...done.eventSeqs);
    }
    // And a command sent from the page while the socket is down: its outcome
    // frame cannot reach the page, so the SDK asks after reconnecting.
    const fromA1 = pages.a1.requests.length;
    const pending = placeOrder(pages.a1);
    await sleep(500);
    assert.equal(await page.getByTestId("connection").textContent(), "reconnecting");

    await stack.restart("realtime");
    await page.getByTestId("connection").filter({ hasText: "live" }).waitFor({ timeout: 15_000 });
    const last = Math.max(...missed);
    await eventually("the missed events in the log", async () => (await seqsOf(page)).received.includes(last), 10_000);
    assert.match(await pending, /new order: succeeded/);
    const polls = pages.a1.requests.slice(fromA1).filter((r) => r.method === "GET" && COMMAND_BY_ID.test(r.url));
    assert.ok(polls.length >= 1, "the page did not ask for its pending command after reconnecting");

    const after = await seqsOf(page);
    for (const seq of missed) assert.ok(after.received.includes(seq), `missed seq ${seq} never arrived`);
    expectEachOnce(after.received, "onEvent");
    expectEachOnce(after.log, "event log");
    assert.ok(after.received.length > before.received.length);
    await screenshot(page, "after-reconnect");
  });

  test("the log recreated while the page was away (a new epoch): the page hydrates again instead of waiting", async () => {
    const page = pages.a2;
    const stats = () => page.evaluate(() => ({ ...window.kitchen.client.stats, epoch: window.kitchen.client.state.epoch }));
    const before = await stats();
    await stack.kill("realtime");
    await page.getByTestId("connection").filter({ hasText: "reconnecting" }).waitFor({ timeout: 5_000 });
    await stack.recreateEpoch(households.a.tenantId);
    await stack.restart("realtime");
    // The page comes back with its old epoch: reset + 4009, then a new snapshot.
    await eventually("a re-hydration", async () => (await stats()).hydrations > before.hydrations, 15_000);
    await page.getByTestId("connection").filter({ hasText: "live" }).waitFor({ timeout: 15_000 });
    const after = await stats();
    assert.ok(after.resets > before.resets, JSON.stringify(after));
    assert.notEqual(after.epoch, before.epoch);
    // And it is live on the new log: a new order shows up.
    const done = await stack.command(households.a.token, "createOrder", {
      orderId: crypto.randomUUID(),
      userId: "e2e-driver",
      items: [{ menuItemId: "e2e-stew", quantity: 1 }],
    });
    await eventually("the order after the re-hydration", async () => (await seqsOf(page)).received.includes(done.eventSeqs[0]), 5_000);
  });

  test("a token that expires mid-session is refreshed without losing an event", async () => {
    const page = await openConsole(browser, stack, households.a);
    // Every connection state the page shows from now on.
    await page.evaluate(() => {
      const badge = document.querySelector("[data-testid=connection]");
      window.shownStates = [badge.textContent];
      new MutationObserver(() => window.shownStates.push(badge.textContent)).observe(badge, { childList: true, characterData: true, subtree: true });
    });
    const start = (await seqsOf(page)).received.length;
    const began = Date.now();
    const sent = [];
    // Commands keep landing across the token's expiry (20 s) and beyond.
    while (Date.now() - began < (TOKEN_TTL_SECS + 6) * 1000) {
      const done = await stack.command(households.a.token, "createOrder", {
        orderId: crypto.randomUUID(),
        userId: "e2e-driver",
        items: [{ menuItemId: "e2e-stew", quantity: 1 }],
      });
      sent.push(...done.eventSeqs);
      await sleep(1_500);
    }
    const last = Math.max(...sent);
    await eventually("every event after the refresh", async () => (await seqsOf(page)).received.includes(last), 10_000);
    const refreshes = page.requests.filter((r) => r.method === "POST" && r.url.endsWith("/v1/auth/refresh"));
    assert.ok(refreshes.length >= 1, "the token was never refreshed");
    const { received } = await seqsOf(page);
    for (const seq of sent) assert.ok(received.includes(seq), `seq ${seq} was lost`);
    expectEachOnce(received, "onEvent");
    assert.ok(received.length - start >= sent.length);
    // The refresh ahead of expiry moved the stream to a socket with the new
    // token before the old one expired: the page never showed "reconnecting".
    const shown = await page.evaluate(() => window.shownStates);
    assert.ok(!shown.includes("reconnecting"), `connection states shown: ${shown}`);
    // Still a working session: a command from the page goes through.
    assert.match(await placeOrder(page), /new order: succeeded/);
    console.log(`# ${refreshes.length} refresh(es) over ${Math.round((Date.now() - began) / 1000)} s; ${sent.length} events, each once`);
    await page.context().close();
  });

  test("a page from an origin that is not allowed cannot open the stream (nor call the gateway)", async () => {
    const port = await freePort();
    const server = createServer((_, res) => res.writeHead(200, { "Content-Type": "text/html" }).end("<!doctype html><title>elsewhere</title>"));
    await new Promise((r) => server.listen(port, "127.0.0.1", r));
    const token = households.a.token;
    const tryStream = ({ url, tokenValue }) =>
      new Promise((resolve) => {
        const socket = new WebSocket(`${url}/v1/stream?after=0`, ["kitchen.v1", tokenValue]);
        socket.onopen = () => {
          socket.close();
          resolve("open");
        };
        socket.onclose = (e) => resolve(`closed ${e.code}`);
      });
    const tryFetch = ({ url, tokenValue }) =>
      fetch(`${url}/v1/snapshot`, { headers: { Authorization: `Bearer ${tokenValue}` } }).then(
        (r) => `status ${r.status}`,
        (e) => `refused ${e.name}`,
      );
    try {
      const context = await browser.newContext();
      const elsewhere = await context.newPage();
      await elsewhere.goto(`http://127.0.0.1:${port}/`);
      assert.equal(await elsewhere.evaluate(tryStream, { url: stack.realtimeUrl, tokenValue: token }), "closed 1006");
      assert.equal(await elsewhere.evaluate(tryFetch, { url: stack.gatewayUrl, tokenValue: token }), "refused TypeError");
      // The same calls from the console's origin work.
      await elsewhere.goto(stack.consoleUrl);
      assert.equal(await elsewhere.evaluate(tryStream, { url: stack.realtimeUrl, tokenValue: token }), "open");
      // And the refusal is realtime's: 403 origin_not_allowed at the upgrade.
      const refused = await upgradeWithOrigin(stack.ports.realtime, `http://127.0.0.1:${port}`, token);
      assert.equal(refused.status, 403);
      assert.equal(JSON.parse(refused.body).code, "origin_not_allowed");
      await context.close();
    } finally {
      server.close();
    }
  });
});
