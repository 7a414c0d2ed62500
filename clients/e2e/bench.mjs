// Benchmark row "putCommand in the page -> outcome resolved" (issue 14): the
// console's own SDK client in headless Chromium sends N createOrder commands
// one after another, each timed until its promise resolves (the outcome
// frame, after the command's events). Beside it, in the same page and run,
// row 2's path done by hand: POST /v1/commands -> the event on a bare
// WebSocket. Prints p50/p99 of both (and JSON with --json PATH).
//   node bench.mjs [--commands 200] [--json target/bench/browser.json]
// Uses KITCHEN_BIN_DIR (scripts/bench passes target/release) and
// KITCHEN__TEMPORAL__ADDRESS like the tests.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseArgs } from "node:util";
import { launch, openConsole } from "./lib/browser.mjs";
import { startStack } from "./lib/stack.mjs";

const { values } = parseArgs({ options: { commands: { type: "string", default: "200" }, json: { type: "string" } } });
const count = Number(values.commands);
const password = "bench-password-1234";

const stack = await startStack();
const browser = await launch();
try {
  const tenantId = await stack.provision({ name: "bench", email: "admin@bench.e2e", password });
  const token = await stack.devToken(tenantId);
  const page = await openConsole(browser, stack, { tenantId, email: "admin@bench.e2e", password });
  const result = await page.evaluate(
    async ({ count, token, gatewayUrl, realtimeUrl }) => {
      const client = window.kitchen.client;
      const order = (i) => ({ orderId: crypto.randomUUID(), userId: "bench", items: [{ menuItemId: "soup", quantity: (i % 9) + 1 }] });
      const quantile = (xs, q) => {
        const sorted = [...xs].sort((a, b) => a - b);
        return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
      };
      const summary = (xs) => ({ p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), max: Math.max(...xs), n: xs.length });

      for (let i = 0; i < 10; i++) await client.putCommand("createOrder", order(i)); // warm-up
      const before = client.stats.outcomePolls;
      const sdk = [];
      for (let i = 0; i < count; i++) {
        const began = performance.now();
        const outcome = await client.putCommand("createOrder", order(i));
        sdk.push(performance.now() - began);
        if (!outcome.success) throw new Error(`command ${i} ${outcome.status}`);
      }
      const polls = client.stats.outcomePolls - before;

      // Row 2 by hand: POST, then the event (by its causation id) on a bare socket.
      const socket = new WebSocket(`${realtimeUrl}/v1/stream?after=${client.state.seq}`, ["kitchen.v1", token]);
      const waiting = new Map();
      socket.onmessage = (message) => {
        const frame = JSON.parse(message.data);
        if (frame.type === "event") waiting.get(frame.event.causationId)?.();
      };
      await new Promise((resolve, reject) => {
        socket.addEventListener("message", (m) => JSON.parse(m.data).type === "ready" && resolve());
        socket.onerror = reject;
      });
      const raw = [];
      for (let i = 0; i < count; i++) {
        const id = crypto.randomUUID();
        const began = performance.now();
        const arrived = new Promise((resolve) => waiting.set(id, resolve));
        const response = await fetch(`${gatewayUrl}/v1/commands`, {
          method: "POST",
          headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
          body: JSON.stringify({ id, type: "createOrder", payload: order(i) }),
        });
        if (response.status !== 202) throw new Error(`POST ${response.status}`);
        await arrived;
        raw.push(performance.now() - began);
        waiting.delete(id);
      }
      socket.close();
      return { sdk: summary(sdk), raw: summary(raw), polls };
    },
    { count, token, gatewayUrl: stack.gatewayUrl, realtimeUrl: stack.realtimeUrl },
  );
  const ms = (x) => `${x.toFixed(1)} ms`;
  console.log(`| row | what | p50 | p99 | max | n |`);
  console.log(`|---|---|---|---|---|---|`);
  console.log(`| 2 (in the page) | POST /v1/commands -> its event on a bare WebSocket | ${ms(result.raw.p50)} | ${ms(result.raw.p99)} | ${ms(result.raw.max)} | ${result.raw.n} |`);
  console.log(`| 2b | putCommand in the page -> outcome resolved (SDK, console) | ${ms(result.sdk.p50)} | ${ms(result.sdk.p99)} | ${ms(result.sdk.max)} | ${result.sdk.n} |`);
  console.log(`outcome fallbacks (GET /v1/commands/{id}) during the run: ${result.polls}`);
  if (values.json) {
    mkdirSync(dirname(values.json), { recursive: true });
    writeFileSync(values.json, JSON.stringify({ ...result, commands: count }, null, 2));
  }
} finally {
  await browser.close();
  await stack.stop();
}
