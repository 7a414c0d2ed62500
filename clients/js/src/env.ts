/**
 * What the SDK takes from its host (the browser's fetch, WebSocket, timers and
 * randomness). Injected so tests drive a fake socket and a fake clock.
 */

/** The part of the WebSocket API the SDK uses. */
export interface SocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  close(code?: number, reason?: string): void;
}

export type SocketFactory = (url: string, protocols: string[]) => SocketLike;

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface Env {
  fetch: typeof fetch;
  openSocket: SocketFactory;
  clock: Clock;
  random: () => number;
  uuid: () => string;
}

export function defaultEnv(overrides: Partial<Env> = {}): Env {
  return {
    fetch: overrides.fetch ?? ((input, init) => globalThis.fetch(input, init)),
    openSocket:
      overrides.openSocket ??
      ((url, protocols) => new globalThis.WebSocket(url, protocols) as unknown as SocketLike),
    clock: overrides.clock ?? {
      now: () => Date.now(),
      setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
      clearTimeout: (h) => globalThis.clearTimeout(h as ReturnType<typeof setTimeout>),
    },
    random: overrides.random ?? Math.random,
    uuid: overrides.uuid ?? (() => globalThis.crypto.randomUUID()),
  };
}
