import { describe, expect, it } from "vitest";
import { connect, type ConnectOptions } from "../src/index.js";
import type { EventView } from "../src/wire.js";
import { fakeEnv, flush, orderCreated, statusUpdated, token, TENANT } from "./fakes.js";

function setup(extra: Partial<ConnectOptions> = {}) {
  const fake = fakeEnv();
  const seen: EventView[] = [];
  const access = token({ exp: Math.floor(fake.clock.now() / 1000) + 3600, iat: Math.floor(fake.clock.now() / 1000) });
  const client = connect({
    gatewayUrl: "http://gw.test",
    realtimeUrl: "ws://rt.test",
    getToken: () => access,
    onEvent: (e) => seen.push(e),
    env: fake.env,
    ...extra,
  });
  return { ...fake, client, seen, access };
}

describe("hydration and subscription", () => {
  it("hydrates from the snapshot, then subscribes after its seq with the token as subprotocol", async () => {
    const { gateway, client, lastSocket, access } = setupWith((g) => {
      g.snapshotSeq = 7;
      g.aggregates = [{ aggregateType: "order", aggregateId: "o1", version: 2, seq: 7, schemaVersion: 2, state: { status: "confirmed" } }];
    });
    await flush();
    expect(gateway.requestsTo("GET /v1/snapshot")).toHaveLength(1);
    expect(gateway.requestsTo("GET /v1/snapshot")[0]!.auth).toBe(`Bearer ${access}`);
    const socket = lastSocket();
    expect(socket.url).toBe("ws://rt.test/v1/stream?after=7&epoch=epoch-1");
    expect(socket.protocols).toEqual(["kitchen.v1", access]);
    expect(client.state.isLoading).toBe(false);
    expect(client.state.aggregates.get("o1")?.state).toEqual({ status: "confirmed" });
    expect(client.state.connection).toBe("connecting");
    socket.ready(7);
    await flush();
    expect(client.state.connection).toBe("live");
  });

  it("refuses a token of another household", async () => {
    const { client } = setup({ tenantId: "11111111-1111-4111-8111-111111111111" });
    await flush();
    expect(client.state.connection).toBe("closed");
    expect(client.state.error?.message).toContain(TENANT);
  });
});

function setupWith(prepare: (gateway: ReturnType<typeof fakeEnv>["gateway"]) => void, extra: Partial<ConnectOptions> = {}) {
  const fake = fakeEnv();
  prepare(fake.gateway);
  const seen: EventView[] = [];
  const access = token({ exp: Math.floor(fake.clock.now() / 1000) + 3600 });
  const client = connect({
    gatewayUrl: "http://gw.test/",
    realtimeUrl: "ws://rt.test",
    getToken: () => access,
    onEvent: (e) => seen.push(e),
    env: fake.env,
    ...extra,
  });
  return { ...fake, client, seen, access };
}

describe("events", () => {
  it("applies events in seq order and folds them into state", async () => {
    const { client, lastSocket, seen } = setup();
    await flush();
    const socket = lastSocket();
    socket.event(orderCreated(1, "o1"));
    socket.event(statusUpdated(2, "o1", 2, "placed", "confirmed"));
    socket.ready(2);
    await flush();
    expect(seen.map((e) => e.seq)).toEqual([1, 2]);
    expect(client.state.seq).toBe(2);
    expect(client.state.events.map((e) => e.seq)).toEqual([1, 2]);
    expect(client.state.aggregates.get("o1")).toMatchObject({ version: 2, seq: 2, state: { status: "confirmed", orderId: "o1" } });
  });

  it("drops duplicates: each seq is applied once", async () => {
    const { client, lastSocket, seen } = setup();
    await flush();
    const socket = lastSocket();
    socket.event(orderCreated(1));
    socket.event(orderCreated(1));
    socket.event(orderCreated(2));
    socket.event(orderCreated(1));
    await flush();
    expect(seen.map((e) => e.seq)).toEqual([1, 2]);
    expect(client.stats.duplicatesDropped).toBe(2);
    expect(lastSocket()).toBe(socket);
  });

  it("on a gap, drops the socket and resumes after the last applied seq", async () => {
    const { client, sockets, lastSocket, seen, clock } = setup();
    await flush();
    const first = lastSocket();
    first.event(orderCreated(1));
    first.event(orderCreated(3)); // 2 is missing
    await clock.advance(0);
    expect(client.stats.gaps).toBe(1);
    expect(first.closedByClient).toBe(4000);
    expect(sockets).toHaveLength(2);
    const second = lastSocket();
    expect(second.after).toBe(1);
    second.event(orderCreated(2));
    second.event(orderCreated(3));
    first.event(orderCreated(4)); // a late frame of the dropped socket is ignored
    second.ready(3);
    await flush();
    expect(seen.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(client.state.connection).toBe("live");
  });

  it("a ready frame ahead of what was applied resumes too", async () => {
    const { client, lastSocket, clock } = setup();
    await flush();
    const first = lastSocket();
    first.event(orderCreated(1));
    first.ready(3);
    await clock.advance(0);
    expect(client.stats.gaps).toBe(1);
    expect(lastSocket().after).toBe(1);
  });
});

describe("reconnecting", () => {
  it("reconnects with exponential backoff and jitter, resuming after the last seq", async () => {
    const { client, sockets, lastSocket, clock } = setup({ backoff: { baseMs: 100, maxMs: 1000 } });
    await flush();
    lastSocket().event(orderCreated(1));
    lastSocket().ready(1);
    await flush();
    lastSocket().serverClose(1006);
    await flush();
    expect(client.state.connection).toBe("reconnecting");
    // random() = 0.5: half the ceiling fixed plus a quarter: 75 ms for the first retry
    expect(clock.pending()).toEqual([75]);
    await clock.advance(74);
    expect(sockets).toHaveLength(1);
    await clock.advance(1);
    expect(sockets).toHaveLength(2);
    expect(lastSocket().after).toBe(1);
    lastSocket().serverClose(1006); // refused again: the delay doubles
    await flush();
    expect(clock.pending()).toEqual([150]);
    await clock.advance(150);
    lastSocket().serverClose(1011);
    await flush();
    expect(clock.pending()).toEqual([300]);
    await clock.advance(300);
    lastSocket().ready(1);
    await flush();
    expect(client.state.connection).toBe("live");
    lastSocket().serverClose(1001); // after a success the backoff starts over
    await flush();
    expect(clock.pending()).toEqual([75]);
  });

  it("keeps reconnecting while the snapshot cannot be read", async () => {
    const { client, gateway, clock, sockets } = setup();
    let down = true;
    const original = gateway.routes.get("GET /v1/snapshot")!;
    gateway.routes.set("GET /v1/snapshot", (r) => (down ? "network-error" : original(r)));
    await flush();
    expect(client.state.connection).toBe("connecting");
    expect(client.state.error?.name).toBe("NetworkError");
    await clock.advance(10_000);
    expect(gateway.requestsTo("GET /v1/snapshot").length).toBeGreaterThan(3);
    down = false;
    await clock.advance(10_000);
    expect(sockets).toHaveLength(1);
    expect(client.state.isLoading).toBe(false);
  });

  it("the reset frame and close 4009 hydrate again with the new epoch", async () => {
    const { client, gateway, lastSocket, clock, seen } = setup();
    gateway.snapshotSeq = 5;
    await flush();
    const first = lastSocket();
    expect(first.after).toBe(5);
    first.ready(5);
    // The tenant's log was recreated: its head is now 2, with another epoch.
    gateway.snapshotSeq = 2;
    gateway.epoch = "epoch-2";
    first.frame({ type: "reset", head: 2, epoch: "epoch-2" });
    first.serverClose(4009, "hydrate again");
    await clock.advance(0);
    expect(gateway.requestsTo("GET /v1/snapshot")).toHaveLength(2);
    expect(client.stats.resets).toBe(1);
    const second = lastSocket();
    expect(second.url).toBe("ws://rt.test/v1/stream?after=2&epoch=epoch-2");
    second.event(orderCreated(3));
    second.ready(3, "epoch-2");
    await flush();
    expect(client.state.seq).toBe(3);
    expect(client.state.epoch).toBe("epoch-2");
    expect(seen.map((e) => e.seq)).toEqual([3]);
  });

  it("a ready frame with another epoch hydrates again", async () => {
    const { gateway, lastSocket, clock } = setup();
    await flush();
    gateway.epoch = "epoch-9";
    lastSocket().ready(0, "epoch-9");
    await clock.advance(0);
    expect(gateway.requestsTo("GET /v1/snapshot")).toHaveLength(2);
    expect(lastSocket().epoch).toBe("epoch-9");
  });

  it("close 4003 (household not active) suspends and retries slowly", async () => {
    const { client, lastSocket, clock } = setup({ backoff: { baseMs: 100, maxMs: 5000 } });
    await flush();
    lastSocket().serverClose(4003);
    await flush();
    expect(client.state.connection).toBe("suspended");
    expect(clock.pending()).toEqual([5000]);
  });

  it("close() stops everything", async () => {
    const { client, lastSocket, clock, sockets } = setup();
    await flush();
    client.close();
    expect(lastSocket().closedByClient).toBe(1000);
    await clock.advance(60_000);
    expect(sockets).toHaveLength(1);
    expect(client.state.connection).toBe("closed");
  });
});

describe("stream URL", () => {
  it("accepts http(s) bases and full stream URLs", async () => {
    const { streamUrl } = await import("../src/client.js");
    expect(streamUrl("http://h:1", 3, null)).toBe("ws://h:1/v1/stream?after=3");
    expect(streamUrl("https://h/", 0, "e")).toBe("wss://h/v1/stream?after=0&epoch=e");
    expect(streamUrl("ws://h/v1/stream", 9, null)).toBe("ws://h/v1/stream?after=9");
  });
});
