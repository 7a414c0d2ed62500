/**
 * A fake household for the SDK's unit tests: a gateway answering `fetch`
 * from a small in-memory log, sockets the test drives frame by frame, and a
 * clock the test advances. Nothing here opens a port.
 */
import type { Clock, Env, SocketLike } from "../src/env.js";
import type { EventView } from "../src/wire.js";

export const TENANT = "7d4f4a52-4b44-4b9e-9a0e-0e5f2b7c1a11";

/** Lets promises and queued microtasks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

export class FakeClock implements Clock {
  private time = 1_700_000_000_000;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  now(): number {
    return this.time;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.push({ at: this.time + Math.max(0, ms), fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  /** The delays of the timers now pending, soonest first. */
  pending(): number[] {
    return this.timers.map((t) => t.at - this.time).sort((a, b) => a - b);
  }
  /** Moves time forward, running every timer that falls due (and what they start). */
  async advance(ms: number): Promise<void> {
    const end = this.time + ms;
    for (;;) {
      await flush();
      const due = this.timers.filter((t) => t.at <= end).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.timers = this.timers.filter((t) => t !== due);
      this.time = Math.max(this.time, due.at);
      due.fn();
    }
    this.time = end;
    await flush();
  }
}

export class FakeSocket implements SocketLike {
  readyState = 0;
  onopen: SocketLike["onopen"] = null;
  onmessage: SocketLike["onmessage"] = null;
  onclose: SocketLike["onclose"] = null;
  onerror: SocketLike["onerror"] = null;
  closedByClient: number | undefined;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {}
  get after(): number {
    return Number(new URL(this.url).searchParams.get("after"));
  }
  get epoch(): string | null {
    return new URL(this.url).searchParams.get("epoch");
  }
  get token(): string | undefined {
    return this.protocols[1];
  }
  frame(frame: unknown): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  event(event: EventView): void {
    this.frame({ type: "event", event });
  }
  ready(seq: number, epoch = "epoch-1"): void {
    this.readyState = 1;
    this.onopen?.({});
    this.frame({ type: "ready", seq, epoch });
  }
  serverClose(code: number, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
  close(code?: number): void {
    this.closedByClient = code ?? 1000;
    this.readyState = 3;
  }
}

/** An HS256-shaped token with these claims (the SDK never verifies signatures). */
export function token(claims: Record<string, unknown>): string {
  const enc = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
  return `${enc({ alg: "HS256", typ: "JWT" })}.${enc({ tenant_id: TENANT, role: "admin", ...claims })}.signature`;
}

let eventCounter = 0;
export function orderCreated(seq: number, orderId = `order-${seq}`): EventView {
  return {
    seq,
    id: `event-${++eventCounter}`,
    tenantId: TENANT,
    aggregateType: "order",
    aggregateId: orderId,
    version: 1,
    type: "OrderCreated",
    schemaVersion: 2,
    payload: { orderId, customerId: "me", items: [{ menuItemId: "soup", quantity: 1 }] },
    causationId: `command-${seq}`,
    correlationId: `correlation-${seq}`,
    metadata: {},
    createdAt: new Date(0).toISOString(),
  };
}

export function statusUpdated(seq: number, orderId: string, version: number, from: string, to: string): EventView {
  return { ...orderCreated(seq, orderId), version, type: "OrderStatusUpdated", schemaVersion: 1, payload: { orderId, from, to } };
}

interface Recorded {
  method: string;
  path: string;
  body: unknown;
  auth: string | null;
}

type Handler = (request: Recorded) => { status: number; body?: unknown; headers?: Record<string, string> } | "network-error";

/** The gateway: answers by "METHOD /path" (path without query); records every request. */
export class FakeGateway {
  readonly requests: Recorded[] = [];
  snapshotSeq = 0;
  epoch = "epoch-1";
  aggregates: unknown[] = [];
  readonly routes = new Map<string, Handler>();
  commands = new Map<string, Record<string, unknown>>();

  constructor() {
    this.routes.set("GET /v1/snapshot", () => ({
      status: 200,
      body: { seq: this.snapshotSeq, epoch: this.epoch, aggregates: this.aggregates },
    }));
    this.routes.set("POST /v1/commands", (r) => {
      const id = (r.body as { id: string }).id;
      return { status: 202, body: { commandId: id, status: "pending", correlationId: "c" } };
    });
  }

  /** A stored command for `GET /v1/commands/{id}`. */
  storeCommand(id: string, status: string, extra: Record<string, unknown> = {}): void {
    this.commands.set(id, { commandId: id, status, eventSeqs: [], rejection: null, ...extra });
  }

  requestsTo(prefix: string): Recorded[] {
    return this.requests.filter((r) => `${r.method} ${r.path}`.startsWith(prefix));
  }

  readonly fetch = (async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const url = new URL(String(input));
    const method = init?.method ?? "GET";
    const headers = new Headers(init?.headers);
    const recorded: Recorded = {
      method,
      path: url.pathname,
      body: init?.body ? JSON.parse(String(init.body)) : undefined,
      auth: headers.get("Authorization"),
    };
    this.requests.push(recorded);
    let handler = this.routes.get(`${method} ${url.pathname}`);
    const command = url.pathname.match(/^\/v1\/commands\/(.+)$/);
    if (!handler && method === "GET" && command) {
      const stored = this.commands.get(decodeURIComponent(command[1]!));
      handler = () => (stored ? { status: 200, body: stored } : { status: 404, body: { code: "not_found" } });
    }
    const answer = handler ? handler(recorded) : { status: 404, body: { code: "not_found", title: "Not Found" } };
    if (answer === "network-error") throw new TypeError("Failed to fetch");
    const problem = answer.status >= 400;
    return new Response(answer.body === undefined ? null : JSON.stringify(answer.body), {
      status: answer.status,
      headers: { "Content-Type": problem ? "application/problem+json" : "application/json", ...(answer.headers ?? {}) },
    });
  }) as typeof fetch;
}

/** A fake environment: the gateway, the sockets opened (newest last), the clock. */
export function fakeEnv() {
  const gateway = new FakeGateway();
  const clock = new FakeClock();
  const sockets: FakeSocket[] = [];
  let uuid = 0;
  const env: Partial<Env> = {
    fetch: gateway.fetch,
    clock,
    random: () => 0.5,
    uuid: () => `00000000-0000-4000-8000-${String(++uuid).padStart(12, "0")}`,
    openSocket: (url, protocols) => {
      const socket = new FakeSocket(url, protocols);
      sockets.push(socket);
      return socket;
    },
  };
  const lastSocket = () => {
    const socket = sockets[sockets.length - 1];
    if (!socket) throw new Error("no socket was opened");
    return socket;
  };
  return { gateway, clock, sockets, env, lastSocket };
}
