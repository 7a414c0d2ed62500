import { describe, expect, it } from "vitest";
import { CommandRejectedError, connect, OutcomeTimeoutError, ProblemError, type ConnectOptions } from "../src/index.js";
import { fakeEnv, flush, orderCreated, token } from "./fakes.js";

function setup(extra: Partial<ConnectOptions> = {}) {
  const fake = fakeEnv();
  const access = token({ exp: Math.floor(fake.clock.now() / 1000) + 3600 });
  const client = connect({
    gatewayUrl: "http://gw.test",
    realtimeUrl: "ws://rt.test",
    getToken: () => access,
    outcomeTimeoutMs: 5_000,
    env: fake.env,
    ...extra,
  });
  return { ...fake, client };
}

async function live(fake: ReturnType<typeof setup>) {
  await flush();
  fake.lastSocket().ready(0);
  await flush();
}

const ORDER = { orderId: "o1", userId: "me", items: [{ menuItemId: "soup", quantity: 1 }] };
const commandPolls = (gateway: ReturnType<typeof setup>["gateway"]) => gateway.requestsTo("GET /v1/commands/");

describe("putCommand", () => {
  it("sends an idempotency id and resolves by the outcome frame, after its events, with no GET", async () => {
    const fake = setup();
    await live(fake);
    let settled = false;
    const result = fake.client.putCommand("createOrder", ORDER).finally(() => (settled = true));
    await flush();
    const posted = fake.gateway.requestsTo("POST /v1/commands")[0]!;
    const id = (posted.body as { id: string }).id;
    expect(posted.body).toEqual({ id, type: "createOrder", payload: ORDER });
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    // The outcome overtakes its event: the promise waits until seq 1 is applied.
    fake.lastSocket().frame({ type: "command", commandId: id, status: "succeeded", eventSeqs: [1] });
    await flush();
    expect(settled).toBe(false);
    fake.lastSocket().event(orderCreated(1, "o1"));
    const outcome = await result;
    expect(outcome).toEqual({ success: true, commandId: id, status: "succeeded", eventSeqs: [1], resolvedBy: "frame" });
    expect(fake.client.state.aggregates.get("o1")).toBeDefined();
    await fake.clock.advance(60_000);
    expect(commandPolls(fake.gateway)).toHaveLength(0);
  });

  it("an outcome frame that beats the HTTP answer still resolves the command", async () => {
    const fake = setup();
    await live(fake);
    const id = "11111111-2222-4333-8444-555555555555";
    const original = fake.gateway.routes.get("POST /v1/commands")!;
    fake.gateway.routes.set("POST /v1/commands", (r) => {
      fake.lastSocket().frame({ type: "command", commandId: id, status: "rejected", rejection: { code: "order_not_found", reason: "no such order" } });
      return original(r);
    });
    const outcome = await fake.client.putCommand("cancelOrder", { orderId: "x" }, { id });
    expect(outcome.success).toBe(false);
    expect(outcome.resolvedBy).toBe("frame");
  });

  it("a rejection resolves with its code and reason as a typed error", async () => {
    const fake = setup();
    await live(fake);
    const result = fake.client.putCommand("cancelOrder", { orderId: "o1" }, { id: "c-1" });
    await flush();
    fake.lastSocket().frame({
      type: "command",
      commandId: "c-1",
      status: "rejected",
      rejection: { code: "order_not_cancellable", reason: "order cannot be cancelled once it is preparing" },
    });
    const outcome = await result;
    expect(outcome.success).toBe(false);
    if (outcome.success) return;
    expect(outcome.status).toBe("rejected");
    expect(outcome.rejection.code).toBe("order_not_cancellable");
    expect(outcome.error).toBeInstanceOf(CommandRejectedError);
    expect(outcome.error.reason).toBe("order cannot be cancelled once it is preparing");
  });

  it("outcome frames of other commands are ignored", async () => {
    const fake = setup();
    await live(fake);
    let settled = false;
    void fake.client.putCommand("createOrder", ORDER, { id: "mine" }).finally(() => (settled = true));
    await flush();
    fake.lastSocket().frame({ type: "command", commandId: "someone-else", status: "succeeded", eventSeqs: [] });
    await flush();
    expect(settled).toBe(false);
  });

  it("fallback 1: after a reconnect, asks GET /v1/commands/{id} for commands still pending", async () => {
    const fake = setup();
    await live(fake);
    const result = fake.client.putCommand("createOrder", ORDER, { id: "c-2" });
    await flush();
    // The socket drops; the outcome frame is lost with it.
    fake.lastSocket().serverClose(1006);
    fake.gateway.storeCommand("c-2", "succeeded", { eventSeqs: [1] });
    await fake.clock.advance(1_000);
    expect(commandPolls(fake.gateway)).toHaveLength(0);
    const socket = fake.lastSocket();
    socket.event(orderCreated(1, "o1"));
    socket.ready(1);
    const outcome = await result;
    expect(outcome).toMatchObject({ success: true, eventSeqs: [1], resolvedBy: "poll" });
    expect(commandPolls(fake.gateway).map((r) => r.path)).toEqual(["/v1/commands/c-2"]);
  });

  it("fallback 2: without a frame, asks after the timeout, and again each period until final", async () => {
    const fake = setup();
    await live(fake);
    const result = fake.client.putCommand("createOrder", ORDER, { id: "c-3" });
    await flush();
    fake.gateway.storeCommand("c-3", "dispatched");
    await fake.clock.advance(4_999);
    expect(commandPolls(fake.gateway)).toHaveLength(0);
    await fake.clock.advance(1);
    expect(commandPolls(fake.gateway)).toHaveLength(1);
    fake.gateway.storeCommand("c-3", "rejected", { rejection: { code: "order_already_exists", reason: "exists" } });
    await fake.clock.advance(5_000);
    const outcome = await result;
    expect(commandPolls(fake.gateway)).toHaveLength(2);
    expect(outcome).toMatchObject({ success: false, status: "rejected", resolvedBy: "poll" });
  });

  it("gives up after the deadline with OutcomeTimeoutError", async () => {
    const fake = setup({ commandDeadlineMs: 20_000 });
    await live(fake);
    fake.gateway.storeCommand("c-4", "dispatched");
    const result = fake.client.putCommand("createOrder", ORDER, { id: "c-4" });
    const caught = result.catch((e: unknown) => e);
    await fake.clock.advance(25_000);
    expect(await caught).toBeInstanceOf(OutcomeTimeoutError);
  });

  it("a repeated POST answered with a final stored command resolves at once", async () => {
    const fake = setup();
    await live(fake);
    fake.gateway.routes.set("POST /v1/commands", () => ({
      status: 200,
      body: { commandId: "c-5", status: "failed", eventSeqs: [], rejection: { code: "unreadable", reason: "bad" } },
    }));
    const outcome = await fake.client.putCommand("createOrder", ORDER, { id: "c-5" });
    expect(outcome).toMatchObject({ success: false, status: "failed", resolvedBy: "answer" });
  });

  it("a problem+json refusal rejects with ProblemError naming the field, and is not retried", async () => {
    const fake = setup();
    await live(fake);
    fake.gateway.routes.set("POST /v1/commands", () => ({
      status: 400,
      body: { type: "about:blank", title: "Bad Request", status: 400, detail: "quantity must be 1..1000", code: "invalid_payload", field: "payload.items[0].quantity" },
    }));
    const error = await fake.client.putCommand("createOrder", ORDER).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ProblemError);
    expect(error).toMatchObject({ status: 400, code: "invalid_payload", field: "payload.items[0].quantity" });
    expect(fake.gateway.requestsTo("POST /v1/commands")).toHaveLength(1);
  });

  it("network errors and 503 are retried with the same id", async () => {
    const fake = setup();
    await live(fake);
    const original = fake.gateway.routes.get("POST /v1/commands")!;
    const answers: ("network-error" | "503" | "ok")[] = ["network-error", "503", "ok"];
    fake.gateway.routes.set("POST /v1/commands", (r) => {
      const next = answers.shift();
      if (next === "network-error") return "network-error";
      if (next === "503") return { status: 503, body: { code: "unavailable" }, headers: { "Retry-After": "2" } };
      return original(r);
    });
    const result = fake.client.putCommand("createOrder", ORDER);
    await fake.clock.advance(3_000);
    const posts = fake.gateway.requestsTo("POST /v1/commands");
    expect(posts).toHaveLength(3);
    const ids = posts.map((p) => (p.body as { id: string }).id);
    expect(new Set(ids).size).toBe(1);
    fake.lastSocket().frame({ type: "command", commandId: ids[0], status: "succeeded", eventSeqs: [] });
    expect(await result).toMatchObject({ success: true });
  });

  it("close() rejects what is still pending", async () => {
    const fake = setup();
    await live(fake);
    const result = fake.client.putCommand("createOrder", ORDER).catch((e: unknown) => e);
    await flush();
    fake.client.close();
    expect((await result as Error).name).toBe("ClosedError");
  });
});
