import { describe, expect, it } from "vitest";
import { connect, ViewWatcher } from "../src/index.js";
import { fakeEnv, flush, orderCreated, token } from "./fakes.js";

describe("ViewWatcher", () => {
  it("fetches the view, and again when the stream moves past its seq", async () => {
    const fake = fakeEnv();
    let viewSeq = 0;
    fake.gateway.routes.set("GET /v1/views/orderBoard", () => ({ status: 200, body: { seq: viewSeq, view: { orders: [], n: viewSeq } } }));
    const client = connect({ gatewayUrl: "http://gw.test", realtimeUrl: "ws://rt.test", getToken: () => token({}), env: fake.env });
    const watcher = new ViewWatcher<{ n: number }>(client, "orderBoard");
    let changes = 0;
    const stop = watcher.subscribe(() => changes++);
    await flush();
    expect(watcher.getSnapshot()).toMatchObject({ isLoading: false, seq: 0, view: { n: 0 } });
    fake.lastSocket().ready(0);
    await flush();
    expect(fake.gateway.requestsTo("GET /v1/views/")).toHaveLength(1);
    viewSeq = 2;
    fake.lastSocket().event(orderCreated(1));
    fake.lastSocket().event(orderCreated(2));
    await flush();
    expect(watcher.getSnapshot()).toMatchObject({ seq: 2, view: { n: 2 } });
    expect(fake.gateway.requestsTo("GET /v1/views/")).toHaveLength(2);
    expect(changes).toBeGreaterThanOrEqual(2);
    stop();
    fake.lastSocket().event(orderCreated(3));
    await flush();
    expect(fake.gateway.requestsTo("GET /v1/views/")).toHaveLength(2);
  });

  it("an unknown view is a 404 ProblemError", async () => {
    const fake = fakeEnv();
    const client = connect({ gatewayUrl: "http://gw.test", realtimeUrl: "ws://rt.test", getToken: () => token({}), env: fake.env });
    const watcher = new ViewWatcher(client, "nope");
    watcher.subscribe(() => {});
    await flush();
    expect(watcher.getSnapshot().error).toMatchObject({ name: "ProblemError", status: 404 });
  });
});
