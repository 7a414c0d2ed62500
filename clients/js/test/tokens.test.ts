import { describe, expect, it } from "vitest";
import { backoffDelay, connect, decodeClaims, login, ProblemError } from "../src/index.js";
import { refreshAt } from "../src/tokens.js";
import { fakeEnv, flush, orderCreated, token } from "./fakes.js";

describe("tokens", () => {
  it("decodes claims and plans the refresh at 75% of the life, at most a minute early", () => {
    const t = token({ exp: 1000, iat: 900, role: "member" });
    expect(decodeClaims(t)).toMatchObject({ exp: 1000, iat: 900, role: "member" });
    expect(refreshAt({ exp: 1000, iat: 900 }, 0)).toBe(975_000);
    expect(refreshAt({ exp: 10_000, iat: 1000 }, 0)).toBe(9_940_000);
    expect(decodeClaims("not-a-jwt")).toEqual({});
  });

  function refreshing(fake: ReturnType<typeof fakeEnv>, ttl: number, failFirst = false) {
    const now = Math.floor(fake.clock.now() / 1000);
    const session = { current: token({ exp: now + ttl, iat: now, n: 0 }), refreshes: 0, failures: 0 };
    const client = connect({
      gatewayUrl: "http://gw.test",
      realtimeUrl: "ws://rt.test",
      getToken: () => session.current,
      refreshToken: async () => {
        if (failFirst && session.failures === 0) {
          session.failures += 1;
          throw new TypeError("Failed to fetch");
        }
        session.refreshes += 1;
        const at = Math.floor(fake.clock.now() / 1000);
        session.current = token({ exp: at + ttl, iat: at, n: session.refreshes });
        return session.current;
      },
      env: fake.env,
    });
    return { client, session };
  }

  it("refreshes before expiry and moves the stream to a socket with the new token, losing and repeating nothing", async () => {
    const fake = fakeEnv();
    const { client, session } = refreshing(fake, 20);
    const seen: number[] = [];
    client.listen((e) => seen.push(e.seq));
    const states = new Set<string>();
    client.subscribe(() => states.add(client.state.connection));
    await flush();
    const first = fake.lastSocket();
    first.event(orderCreated(1));
    first.ready(1);
    await fake.clock.advance(14_999);
    expect(session.refreshes).toBe(0);
    await fake.clock.advance(1);
    expect(session.refreshes).toBe(1); // at 15 s of a 20 s token
    const second = fake.lastSocket();
    expect(second).not.toBe(first);
    expect(second.token).toBe(session.current);
    expect(second.after).toBe(1);
    // Both deliver while they overlap; each seq is applied once.
    first.event(orderCreated(2));
    second.event(orderCreated(2));
    second.event(orderCreated(3));
    first.event(orderCreated(3));
    second.ready(3);
    await flush();
    expect(first.closedByClient).toBe(1000);
    first.serverClose(4001); // late: ignored
    second.event(orderCreated(4));
    await fake.clock.advance(1_000);
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(fake.sockets).toHaveLength(2);
    expect(client.state.connection).toBe("live");
    expect(states.has("reconnecting")).toBe(false);
  });

  it("when the early refresh failed, close 4001 refreshes and reconnects after the last seq", async () => {
    const fake = fakeEnv();
    const { client, session } = refreshing(fake, 20, true);
    await flush();
    const first = fake.lastSocket();
    first.event(orderCreated(1));
    first.ready(1);
    await fake.clock.advance(15_000);
    expect(session.failures).toBe(1);
    expect(fake.sockets).toHaveLength(1);
    expect(client.state.connection).toBe("live"); // a failed early refresh is not the end
    await fake.clock.advance(5_000);
    first.serverClose(4001, "token expired; reconnect with after=1");
    await fake.clock.advance(0);
    expect(session.refreshes).toBe(1);
    const second = fake.lastSocket();
    expect(second).not.toBe(first);
    expect(second.token).toBe(session.current);
    expect(second.after).toBe(1);
  });

  it("a refused request refreshes once and retries; a refused refresh ends the session", async () => {
    const fake = fakeEnv();
    let refreshed = false;
    fake.gateway.routes.set("GET /v1/snapshot", (r) =>
      r.auth === "Bearer fresh" ? { status: 200, body: { seq: 0, aggregates: [] } } : { status: 401, body: { code: "token_expired" } },
    );
    const client = connect({
      gatewayUrl: "http://gw.test",
      realtimeUrl: "ws://rt.test",
      getToken: () => (refreshed ? "fresh" : "stale"),
      refreshToken: async () => {
        refreshed = true;
        return "fresh";
      },
      env: fake.env,
    });
    await fake.clock.advance(0);
    expect(fake.lastSocket().token).toBe("fresh");
    expect(client.state.isLoading).toBe(false);

    const other = fakeEnv();
    other.gateway.routes.set("GET /v1/snapshot", () => ({ status: 401, body: { code: "token_expired" } }));
    const ended = connect({
      gatewayUrl: "http://gw.test",
      realtimeUrl: "ws://rt.test",
      getToken: () => "stale",
      refreshToken: async () => {
        throw new ProblemError(401, { code: "refresh_token_reused", detail: "refresh token reused" });
      },
      env: other.env,
    });
    await other.clock.advance(60_000);
    expect(other.gateway.requestsTo("GET /v1/snapshot")).toHaveLength(1);
    expect(ended.state.connection).toBe("closed");
    expect(ended.state.error?.message).toContain("reused");
  });

  it("login and refresh rotate the pair through the gateway", async () => {
    const fake = fakeEnv();
    fake.gateway.routes.set("POST /v1/auth/token", () => ({
      status: 200,
      body: { accessToken: token({ role: "member", sub: "u1" }), tokenType: "Bearer", expiresIn: 900, refreshToken: "r1" },
    }));
    fake.gateway.routes.set("POST /v1/auth/refresh", (r) => ({
      status: 200,
      body: { accessToken: token({ role: "member", n: 2 }), tokenType: "Bearer", expiresIn: 900, refreshToken: `${(r.body as { refreshToken: string }).refreshToken}-next` },
    }));
    const session = await login({ gatewayUrl: "http://gw.test", tenantId: "t", email: "a@b.c", password: "pw", fetch: fake.gateway.fetch });
    expect(fake.gateway.requestsTo("POST /v1/auth/token")[0]!.body).toEqual({ tenantId: "t", email: "a@b.c", password: "pw" });
    expect(session.role).toBe("member");
    // Two callers at once: one refresh request (the token rotates; a second use would revoke the login).
    const [a, b] = await Promise.all([session.refreshToken(), session.refreshToken()]);
    expect(a).toBe(b);
    expect(fake.gateway.requestsTo("POST /v1/auth/refresh")).toHaveLength(1);
    expect(session.saved.refreshToken).toBe("r1-next");
    await session.refreshToken();
    expect(fake.gateway.requestsTo("POST /v1/auth/refresh")[1]!.body).toEqual({ refreshToken: "r1-next" });
  });

  it("a wrong password is a ProblemError 401", async () => {
    const fake = fakeEnv();
    fake.gateway.routes.set("POST /v1/auth/token", () => ({ status: 401, body: { code: "invalid_credentials", title: "Unauthorized", detail: "wrong email or password" } }));
    await expect(login({ gatewayUrl: "http://gw.test", tenantId: "t", email: "a", password: "b", fetch: fake.gateway.fetch })).rejects.toMatchObject({
      name: "ProblemError",
      status: 401,
      code: "invalid_credentials",
    });
  });
});

describe("backoff", () => {
  it("doubles up to the cap, jittered within the upper half", () => {
    const policy = { baseMs: 100, maxMs: 1000 };
    expect(backoffDelay(0, policy, () => 0)).toBe(50);
    expect(backoffDelay(0, policy, () => 0.999)).toBeLessThanOrEqual(100);
    expect(backoffDelay(3, policy, () => 0)).toBe(400);
    expect(backoffDelay(10, policy, () => 0.5)).toBe(750);
    const delays = new Set(Array.from({ length: 20 }, () => backoffDelay(2, policy, Math.random)));
    expect(delays.size).toBeGreaterThan(1);
    for (const d of delays) expect(d).toBeGreaterThanOrEqual(200);
  });
});
