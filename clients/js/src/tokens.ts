/**
 * Access tokens for the client: the current one, a refresh before it expires
 * (at 75% of its life, at most a minute early), and one refresh at a time —
 * refresh tokens rotate, and presenting a used one revokes the whole login.
 */
import type { Clock } from "./env.js";

export interface TokenClaims {
  exp?: number;
  iat?: number;
  sub?: string;
  role?: string;
  tenant_id?: string;
  [claim: string]: unknown;
}

/** The claims of a JWT, unverified (the server verifies; the client only schedules). */
export function decodeClaims(token: string): TokenClaims {
  const part = token.split(".")[1];
  if (!part) return {};
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes)) as TokenClaims;
  } catch {
    return {};
  }
}

/** When to refresh a token issued at `iat` expiring at `exp` (seconds), in ms since the epoch. */
export function refreshAt(claims: TokenClaims, nowMs: number): number | undefined {
  if (typeof claims.exp !== "number") return undefined;
  const expMs = claims.exp * 1000;
  const issuedMs = typeof claims.iat === "number" ? claims.iat * 1000 : nowMs;
  const lifetime = Math.max(0, expMs - issuedMs);
  return expMs - Math.min(60_000, lifetime / 4);
}

export type TokenSource = () => string | Promise<string>;

export class TokenKeeper {
  private inFlight: Promise<string> | undefined;
  private timer: unknown;
  private stopped = false;
  refreshes = 0;
  /** The refresh was refused (401/403): the login is over; nothing will make a token again. */
  ended: unknown = undefined;

  constructor(
    private readonly getToken: TokenSource,
    private readonly refreshToken: TokenSource | undefined,
    private readonly clock: Clock,
    private readonly onError: (error: unknown) => void,
    /** Told the token of each refresh made ahead of expiry. */
    private readonly onScheduledRefresh: (token: string) => void = () => {},
  ) {}

  /** The token to use now; schedules the next refresh from its `exp`. */
  async current(): Promise<string> {
    if (this.inFlight) return this.inFlight;
    const token = await this.getToken();
    this.schedule(token);
    return token;
  }

  /** True when the token is past (or within 5 s of) its expiry. */
  isExpiring(token: string): boolean {
    const { exp } = decodeClaims(token);
    return typeof exp === "number" && exp * 1000 - 5_000 <= this.clock.now();
  }

  /**
   * A fresh token: `refreshToken()` when given (one call at a time), else
   * `getToken()` again (its owner may have refreshed on its own).
   */
  refresh(): Promise<string> {
    if (this.inFlight) return this.inFlight;
    const source = this.refreshToken ?? this.getToken;
    this.inFlight = (async () => {
      try {
        let token: string;
        try {
          token = await source();
        } catch (error) {
          const status = (error as { status?: unknown }).status;
          if (status === 401 || status === 403) this.ended = error;
          throw error;
        }
        this.refreshes += 1;
        this.schedule(token);
        return token;
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(token: string): void {
    if (!this.refreshToken || this.stopped) return;
    const at = refreshAt(decodeClaims(token), this.clock.now());
    if (at === undefined) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.refresh().then(this.onScheduledRefresh, this.onError);
    }, Math.max(0, at - this.clock.now()));
  }
}
