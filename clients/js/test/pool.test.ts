import { afterEach, describe, expect, it, vi } from "vitest";
import { ClientPool } from "../src/react/pool.js";
import { fakeEnv, token } from "./fakes.js";

afterEach(() => {
  vi.useRealTimers();
});

describe("ClientPool (the React hooks' clients)", () => {
  it("shares one client per household and closes it after its last user lets go", async () => {
    vi.useFakeTimers();
    const fake = fakeEnv();
    const pool = new ClientPool({ gatewayUrl: "http://gw.test", realtimeUrl: "ws://rt.test", getToken: () => token({}), env: fake.env });
    const a = pool.acquire("t1");
    expect(pool.acquire("t1")).toBe(a);
    pool.release("t1");
    pool.release("t1");
    // Released and taken again at once (React's development double effects): kept.
    expect(pool.acquire("t1")).toBe(a);
    pool.release("t1");
    await vi.advanceTimersByTimeAsync(200);
    expect(a.state.connection).toBe("closed");
    expect(pool.acquire("t1")).not.toBe(a);
    pool.closeAll();
  });
});
