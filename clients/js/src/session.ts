/**
 * A household user's login (`POST /v1/auth/token`) and its rotating refresh
 * (`POST /v1/auth/refresh`), as the `getToken`/`refreshToken` pair that
 * `connect()` takes.
 */
import { requestJson, joinUrl } from "./http.js";
import { decodeClaims, type TokenClaims } from "./tokens.js";
import type { TokenResponse } from "./wire.js";

export interface LoginOptions {
  gatewayUrl: string;
  tenantId: string;
  email: string;
  password: string;
  fetch?: typeof fetch;
}

export interface SessionState {
  accessToken: string;
  refreshToken: string;
}

export class Session {
  private inFlight: Promise<string> | undefined;
  /** Told the new pair after each rotation (to store it, e.g. in sessionStorage). */
  onRotate: ((state: SessionState) => void) | undefined;

  constructor(
    private readonly gatewayUrl: string,
    private state: SessionState,
    private readonly fetchFn: typeof fetch = (i, o) => globalThis.fetch(i, o),
  ) {}

  /** What the token says about its holder (tenant, user, role). Unverified: for display and routing only. */
  get claims(): TokenClaims {
    return decodeClaims(this.state.accessToken);
  }
  get tenantId(): string | undefined {
    return this.claims.tenant_id;
  }
  get role(): string {
    return this.claims.role ?? "member";
  }
  /** The pair, for storage across page loads (e.g. sessionStorage). */
  get saved(): SessionState {
    return { ...this.state };
  }

  readonly getToken = (): string => this.state.accessToken;

  /** Rotates the pair; concurrent callers share one request (a reused refresh token revokes the login). */
  readonly refreshToken = (): Promise<string> => {
    this.inFlight ??= (async () => {
      try {
        const { body } = await requestJson<TokenResponse>(this.fetchFn, joinUrl(this.gatewayUrl, "/v1/auth/refresh"), {
          method: "POST",
          body: { refreshToken: this.state.refreshToken },
        });
        this.state = { accessToken: body.accessToken, refreshToken: body.refreshToken };
        this.onRotate?.(this.saved);
        return body.accessToken;
      } finally {
        this.inFlight = undefined;
      }
    })();
    return this.inFlight;
  };

  /** Revokes every refresh token of this login. */
  async logout(): Promise<void> {
    await requestJson<void>(this.fetchFn, joinUrl(this.gatewayUrl, "/v1/auth/logout"), {
      method: "POST",
      body: { refreshToken: this.state.refreshToken },
    });
  }
}

/** Logs in; a wrong email or password is a `ProblemError` 401 `invalid_credentials`. */
export async function login(options: LoginOptions): Promise<Session> {
  const fetchFn = options.fetch ?? ((i, o) => globalThis.fetch(i, o));
  const { body } = await requestJson<TokenResponse>(fetchFn, joinUrl(options.gatewayUrl, "/v1/auth/token"), {
    method: "POST",
    body: { tenantId: options.tenantId, email: options.email, password: options.password },
  });
  return new Session(options.gatewayUrl, { accessToken: body.accessToken, refreshToken: body.refreshToken }, fetchFn);
}
