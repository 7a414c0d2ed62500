/**
 * `connect()`: one household's live state. Hydrates from `GET /v1/snapshot`,
 * subscribes to `GET /v1/stream?after=<seq>&epoch=<epoch>` (token in the
 * `kitchen.v1` subprotocol), applies events in seq order exactly once
 * (duplicates dropped, a gap resumes from the last applied seq), hydrates
 * again on the `reset` frame / close 4009, reconnects with backoff and jitter,
 * refreshes the token before it expires and on close 4001, and resolves
 * `putCommand` by the outcome frame, falling back to `GET /v1/commands/{id}`
 * after a reconnect and after a timeout.
 */
import { backoffDelay, defaultBackoff, type BackoffPolicy } from "./backoff.js";
import { defaultEnv, type Env, type SocketLike } from "./env.js";
import { ClosedError, KitchenError, NetworkError, OutcomeTimeoutError, ProblemError } from "./errors.js";
import { applyEvent, defaultReducer, fromSnapshot, type AggregateState, type Reducer } from "./fold.js";
import { joinUrl, requestJson, type JsonResponse, type RequestOptions } from "./http.js";
import { Outcomes, isFinal, type CommandResult } from "./outcomes.js";
import { decodeClaims, TokenKeeper, type TokenSource } from "./tokens.js";
import {
  CloseCode,
  type CommandAccepted,
  type CommandOutcomeFrame,
  type CommandView,
  type EventView,
  type StreamFrame,
  type TenantSnapshot,
  type ViewAtSeq,
} from "./wire.js";

export type ConnectionState =
  /** Before the first hydration. */
  | "connecting"
  /** Catching up or live socket lost: retrying (with backoff). */
  | "reconnecting"
  /** The socket is open and caught up (`ready` received). */
  | "live"
  /** The household is not active (close 4003 / 403): retrying slowly. */
  | "suspended"
  /** `close()` was called, or the session ended (refresh refused). */
  | "closed";

export interface ConnectOptions {
  gatewayUrl: string;
  /** `ws(s)://host:port` (or `http(s)://`), with or without `/v1/stream`. */
  realtimeUrl: string;
  /** The current access token. */
  getToken: TokenSource;
  /** A fresh access token (e.g. `Session.refreshToken`); called before expiry and on close 4001. */
  refreshToken?: TokenSource;
  /** When given, the token's `tenant_id` must be this household. */
  tenantId?: string;
  onEvent?: (event: EventView) => void;
  onOutcome?: (frame: CommandOutcomeFrame) => void;
  /** Folds an event into its aggregate's state (default: orders and menus). */
  reduce?: Reducer;
  /** Events kept in `events` (the most recent). */
  maxEvents?: number;
  backoff?: BackoffPolicy;
  /** Without an outcome this long after the POST, ask `GET /v1/commands/{id}` (and again each period). */
  outcomeTimeoutMs?: number;
  /** Give up on an outcome after this long (`OutcomeTimeoutError`). */
  commandDeadlineMs?: number;
  /** POST attempts on network errors, 429 and 503 (same idempotency id). */
  submitAttempts?: number;
  env?: Partial<Env>;
}

export interface ClientSnapshot {
  connection: ConnectionState;
  /** True until the first hydration. */
  isLoading: boolean;
  /** The last error that stopped progress (cleared when live again). */
  error: KitchenError | null;
  seq: number;
  epoch: string | null;
  /** Aggregates by id, at `seq`. */
  aggregates: ReadonlyMap<string, AggregateState>;
  /** The most recent events applied (oldest first). */
  events: readonly EventView[];
}

export interface PutCommandOptions {
  /** Idempotency id (default: a new UUID); a retry with the same id is answered with the same command. */
  id?: string;
  correlationId?: string;
  metadata?: Record<string, unknown>;
}

export interface ClientStats {
  duplicatesDropped: number;
  gaps: number;
  reconnects: number;
  hydrations: number;
  resets: number;
  outcomePolls: number;
}

/** Browsers only accept 1000 and 3000-4999 from a script; 4000 is ours ("gap, resuming"). */
const CLOSE_RESUMING = 4000;

export function streamUrl(realtimeUrl: string, after: number, epoch: string | null): string {
  let base = realtimeUrl.replace(/^http(s?):/, "ws$1:").split("?")[0] ?? "";
  if (!/\/v1\/stream\/?$/.test(base)) base = joinUrl(base, "/v1/stream");
  const query = new URLSearchParams({ after: String(after) });
  if (epoch) query.set("epoch", epoch);
  return `${base}?${query}`;
}

export class KitchenClient {
  readonly stats: ClientStats = { duplicatesDropped: 0, gaps: 0, reconnects: 0, hydrations: 0, resets: 0, outcomePolls: 0 };
  private readonly env: Env;
  private readonly tokens: TokenKeeper;
  private readonly outcomes: Outcomes;
  private readonly listeners = new Set<() => void>();
  private readonly eventListeners = new Set<(event: EventView) => void>();
  private readonly reduce: Reducer;
  private readonly backoff: BackoffPolicy;
  // The live state; `snapshot` is an immutable copy made when listeners are told.
  private seq = 0;
  private epoch: string | null = null;
  private aggregates = new Map<string, AggregateState>();
  private events: EventView[] = [];
  private connection: ConnectionState = "connecting";
  private error: KitchenError | null = null;
  private hydrated = false;
  private snapshot: ClientSnapshot;
  private notifyQueued = false;

  private socket: SocketLike | undefined;
  /** A socket opened with a refreshed token, taking over once it is caught up. */
  private standby: SocketLike | undefined;
  private needHydrate = true;
  private attempt = 0;
  /** Token refusals in a row (a refreshed token refused again ends the session). */
  private authRetries = 0;
  private retryTimer: unknown;
  private closed = false;

  constructor(private readonly options: ConnectOptions) {
    this.env = defaultEnv(options.env);
    this.reduce = options.reduce ?? defaultReducer;
    this.backoff = options.backoff ?? defaultBackoff;
    this.tokens = new TokenKeeper(
      options.getToken,
      options.refreshToken,
      this.env.clock,
      // A refused refresh ends the session; a failed one is tried again at close 4001.
      (e) => this.tokens.ended && this.fail(e),
      (token) => this.swapSocket(token),
    );
    this.outcomes = new Outcomes(
      () => this.seq,
      (h) => this.env.clock.clearTimeout(h),
    );
    this.snapshot = this.makeSnapshot();
  }

  // ---- observing -------------------------------------------------------

  /** Called (batched, after a microtask) whenever the snapshot changes; returns the unsubscribe. */
  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  readonly getSnapshot = (): ClientSnapshot => this.snapshot;

  /** Called with every event as it is applied (each once, in seq order); returns the unsubscribe. */
  readonly listen = (listener: (event: EventView) => void): (() => void) => {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  };

  get state(): ClientSnapshot {
    return this.snapshot;
  }

  // ---- lifecycle -------------------------------------------------------

  start(): this {
    void this.cycle();
    return this;
  }

  /** Closes the socket, stops timers; pending `putCommand`s reject with `ClosedError`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.tokens.stop();
    if (this.retryTimer !== undefined) this.env.clock.clearTimeout(this.retryTimer);
    this.dropStandby();
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(1000, "client closed");
    this.outcomes.failAll(new ClosedError("the client was closed"));
    this.setConnection("closed");
  }

  /** One step: hydrate when needed, then open the socket. Errors schedule a retry. */
  private async cycle(): Promise<void> {
    this.retryTimer = undefined;
    if (this.closed) return;
    try {
      let token = await this.tokens.current();
      const tenant = decodeClaims(token).tenant_id;
      if (this.options.tenantId && tenant && tenant !== this.options.tenantId) {
        this.fail(new KitchenError(`the token is for household ${tenant}, not ${this.options.tenantId}`));
        return;
      }
      if (this.tokens.isExpiring(token) && this.options.refreshToken) token = await this.tokens.refresh();
      if (this.needHydrate) await this.hydrate();
      if (this.closed) return;
      this.openSocket(await this.tokens.current());
    } catch (error) {
      this.onCycleError(error);
    }
  }

  private onCycleError(error: unknown): void {
    if (this.closed) return;
    if (this.tokens.ended) {
      this.fail(this.tokens.ended);
      return;
    }
    if (error instanceof ProblemError && error.status === 401 && this.options.refreshToken && this.authRetries++ < 2) {
      // The token was refused: refresh; if that is refused too the session is over.
      this.tokens.refresh().then(
        () => this.retry(0),
        (e) => this.fail(e),
      );
      return;
    }
    if (error instanceof ProblemError && error.status === 401) {
      this.fail(error);
      return;
    }
    if (error instanceof ProblemError && error.code === "tenant_not_active") {
      this.error = error;
      this.queueNotify();
      this.setConnection("suspended");
      this.retry(this.backoff.maxMs);
      return;
    }
    if (error instanceof ProblemError && error.status < 500 && !error.retryable) {
      this.fail(error);
      return;
    }
    this.error = error instanceof KitchenError ? error : new NetworkError(String(error), { cause: error });
    this.queueNotify();
    this.setConnection(this.hydrated ? "reconnecting" : "connecting");
    this.retry(backoffDelay(this.attempt++, this.backoff, this.env.random));
  }

  /** The session cannot go on (refresh refused, bad request): stop and say why. */
  private fail(error: unknown): void {
    this.error = error instanceof KitchenError ? error : new KitchenError(String(error));
    this.close();
    this.queueNotify();
  }

  private retry(delayMs: number): void {
    if (this.closed) return;
    if (this.retryTimer !== undefined) this.env.clock.clearTimeout(this.retryTimer);
    this.stats.reconnects += 1;
    this.retryTimer = this.env.clock.setTimeout(() => void this.cycle(), delayMs);
  }

  private async hydrate(): Promise<void> {
    const { body } = await this.get<TenantSnapshot>("/v1/snapshot");
    this.aggregates = new Map(body.aggregates.map((row) => [row.aggregateId, fromSnapshot(row)]));
    this.seq = body.seq;
    this.epoch = body.epoch ?? null;
    this.events = [];
    this.hydrated = true;
    this.needHydrate = false;
    this.stats.hydrations += 1;
    this.queueNotify();
  }

  // ---- the socket ------------------------------------------------------

  private openSocket(token: string, asStandby = false): SocketLike {
    const socket = this.env.openSocket(streamUrl(this.options.realtimeUrl, this.seq, this.epoch), ["kitchen.v1", token]);
    if (asStandby) this.standby = socket;
    else this.socket = socket;
    socket.onmessage = (message) => {
      if (socket !== this.socket && socket !== this.standby) return;
      let frame: StreamFrame;
      try {
        frame = JSON.parse(String(message.data)) as StreamFrame;
      } catch {
        return; // not ours to understand; the server sends only JSON text frames
      }
      this.onFrame(socket, frame);
    };
    socket.onclose = (event) => {
      if (socket === this.standby) {
        this.standby = undefined; // the current socket goes on; its own close is handled as usual
        return;
      }
      if (socket !== this.socket) return;
      this.socket = undefined;
      if (this.standby && event.code === CloseCode.tokenExpired) {
        // The replacement is already on its way: let it take over.
        this.socket = this.standby;
        this.standby = undefined;
        this.setConnection("reconnecting");
        return;
      }
      this.onClose(event.code);
    };
    socket.onerror = () => {
      /* a close event follows */
    };
    return socket;
  }

  /**
   * After a refresh ahead of expiry: open a second socket with the new token
   * (after the last applied seq) and drop the old one once the new one is
   * caught up, so the old token's expiry (close 4001) never interrupts the
   * stream. Frames of both are applied by seq while they overlap.
   */
  private swapSocket(token: string): void {
    if (this.closed || !this.socket || this.connection !== "live") return;
    this.standby?.close(1000, "replaced");
    this.openSocket(token, true);
  }

  private onFrame(socket: SocketLike, frame: StreamFrame): void {
    if (socket === this.standby && frame.type === "ready") {
      // Caught up: the replacement takes over; the old socket goes.
      const old = this.socket;
      this.socket = socket;
      this.standby = undefined;
      old?.close(1000, "replaced by a socket with a fresh token");
    }
    switch (frame.type) {
      case "event":
        this.onEvent(frame.event);
        break;
      case "ready":
        if (frame.epoch && this.epoch && frame.epoch !== this.epoch) {
          this.restart(true);
          return;
        }
        if (frame.epoch) this.epoch = frame.epoch;
        if (frame.seq > this.seq) {
          // The server says it sent more than we applied: something was lost.
          this.stats.gaps += 1;
          this.restart(false);
          return;
        }
        this.attempt = 0;
        this.authRetries = 0;
        this.error = null;
        this.setConnection("live");
        for (const id of this.outcomes.unresolved()) void this.pollOutcome(id);
        break;
      case "reset":
        // Our `after` is beyond the log's head, or the log was recreated.
        this.stats.resets += 1;
        this.needHydrate = true;
        break;
      case "command":
        this.outcomes.settle(frame.commandId, frame, "frame");
        this.options.onOutcome?.(frame);
        break;
      default:
        break; // a frame type this SDK does not know yet
    }
  }

  private onEvent(event: EventView): void {
    if (event.seq <= this.seq) {
      this.stats.duplicatesDropped += 1;
      return;
    }
    if (event.seq > this.seq + 1) {
      this.stats.gaps += 1;
      this.restart(false);
      return;
    }
    this.aggregates.set(event.aggregateId, applyEvent(this.aggregates.get(event.aggregateId), event, this.reduce));
    this.seq = event.seq;
    this.events.push(event);
    const max = this.options.maxEvents ?? 500;
    if (this.events.length > max) this.events.splice(0, this.events.length - max);
    this.queueNotify();
    this.options.onEvent?.(event);
    for (const listener of [...this.eventListeners]) listener(event);
    this.outcomes.applied(this.seq);
  }

  /** Drops the socket(s) and resumes from the last applied seq (or hydrates again) at once. */
  private restart(rehydrate: boolean): void {
    this.dropStandby();
    const socket = this.socket;
    this.socket = undefined;
    socket?.close(CLOSE_RESUMING, "resuming");
    if (rehydrate) this.needHydrate = true;
    this.setConnection("reconnecting");
    this.retry(0);
  }

  private dropStandby(): void {
    const standby = this.standby;
    this.standby = undefined;
    standby?.close(1000, "not needed");
  }

  private onClose(code: number): void {
    if (this.closed) return;
    this.dropStandby();
    switch (code) {
      case CloseCode.rehydrate:
        this.needHydrate = true;
        this.setConnection("reconnecting");
        this.retry(0);
        return;
      case CloseCode.tokenExpired:
        this.setConnection("reconnecting");
        this.tokens.current().then(
          (token) => (this.tokens.isExpiring(token) ? this.tokens.refresh() : token),
        ).then(
          () => this.retry(0),
          (e) => (e instanceof ProblemError && e.status === 401 ? this.fail(e) : this.onCycleError(e)),
        );
        return;
      case CloseCode.tenantNotActive:
        this.setConnection("suspended");
        this.retry(this.backoff.maxMs);
        return;
      default:
        this.setConnection("reconnecting");
        this.retry(backoffDelay(this.attempt++, this.backoff, this.env.random));
    }
  }

  // ---- commands --------------------------------------------------------

  /**
   * Sends a command and resolves with its outcome: `{success: true, eventSeqs}`
   * once its events are applied, or `{success: false, rejection, error}`.
   * A refusal at the HTTP edge (400, 403, 409, ...) rejects with `ProblemError`
   * (nothing was written); no outcome within `commandDeadlineMs` rejects with
   * `OutcomeTimeoutError`.
   */
  async putCommand(type: string, payload: Record<string, unknown>, options: PutCommandOptions = {}): Promise<CommandResult> {
    if (this.closed) throw new ClosedError("the client is closed");
    const id = options.id ?? this.env.uuid();
    // Registered before the POST: the outcome frame may beat the HTTP answer.
    const outcome = this.outcomes.register(id);
    try {
      const body: Record<string, unknown> = { id, type, payload };
      if (options.correlationId) body.correlationId = options.correlationId;
      if (options.metadata) body.metadata = options.metadata;
      const answer = await this.submit(body);
      this.outcomes.markAccepted(id);
      const stored = answer.body as Partial<CommandView>;
      if (answer.status === 200 && stored.status && isFinal(stored.status)) {
        this.outcomes.settle(id, stored as CommandView, "answer");
      }
      this.armOutcomeTimer(id);
    } catch (error) {
      this.outcomes.fail(id, error);
    }
    return outcome;
  }

  private async submit(body: Record<string, unknown>): Promise<JsonResponse<CommandAccepted | CommandView>> {
    const attempts = this.options.submitAttempts ?? 5;
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.authed<CommandAccepted | CommandView>("/v1/commands", { method: "POST", body });
      } catch (error) {
        const retryable = error instanceof NetworkError || (error instanceof ProblemError && error.retryable);
        if (!retryable || attempt + 1 >= attempts || this.closed) throw error;
        const hinted = error instanceof ProblemError ? error.retryAfterSecs : undefined;
        await this.sleep(hinted ? hinted * 1000 : backoffDelay(attempt, this.backoff, this.env.random));
      }
    }
  }

  private armOutcomeTimer(id: string): void {
    const period = this.options.outcomeTimeoutMs ?? 10_000;
    const deadline = this.options.commandDeadlineMs ?? 120_000;
    const began = this.env.clock.now();
    const tick = async (): Promise<void> => {
      if (!this.outcomes.isPending(id) || this.outcomes.releaseWaiting(id)) return;
      const waited = this.env.clock.now() - began;
      if (waited >= deadline) {
        this.outcomes.fail(id, new OutcomeTimeoutError(id, waited));
        return;
      }
      await this.pollOutcome(id);
      if (this.outcomes.isPending(id)) this.outcomes.setTimer(id, this.env.clock.setTimeout(() => void tick(), period));
    };
    this.outcomes.setTimer(id, this.env.clock.setTimeout(() => void tick(), period));
  }

  /** Asks the gateway for a command's outcome (the fallback when no frame came). */
  private async pollOutcome(id: string): Promise<void> {
    this.stats.outcomePolls += 1;
    try {
      const { body } = await this.get<CommandView>(`/v1/commands/${encodeURIComponent(id)}`);
      this.outcomes.settle(id, body, "poll");
    } catch {
      // Asked again at the next period.
    }
  }

  // ---- reads -----------------------------------------------------------

  /** `GET /v1/views/{name}[?key=]`: a read model at the seq it reflects. */
  async getView<V = unknown>(name: string, key?: string): Promise<ViewAtSeq<V>> {
    const query = key === undefined ? "" : `?key=${encodeURIComponent(key)}`;
    return (await this.get<ViewAtSeq<V>>(`/v1/views/${encodeURIComponent(name)}${query}`)).body;
  }

  private get<T>(path: string): Promise<JsonResponse<T>> {
    return this.authed<T>(path, {});
  }

  /** A gateway request with the token; a 401 refreshes the token and tries once more. */
  private async authed<T>(path: string, options: RequestOptions): Promise<JsonResponse<T>> {
    const url = joinUrl(this.options.gatewayUrl, path);
    try {
      return await requestJson<T>(this.env.fetch, url, { ...options, token: await this.tokens.current() });
    } catch (error) {
      if (!(error instanceof ProblemError && error.status === 401 && this.options.refreshToken)) throw error;
      return requestJson<T>(this.env.fetch, url, { ...options, token: await this.tokens.refresh() });
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.env.clock.setTimeout(resolve, ms));
  }

  // ---- notifying -------------------------------------------------------

  private setConnection(connection: ConnectionState): void {
    if (this.connection === connection) return;
    this.connection = connection;
    this.queueNotify();
  }

  private queueNotify(): void {
    if (this.notifyQueued) return;
    this.notifyQueued = true;
    queueMicrotask(() => {
      this.notifyQueued = false;
      this.snapshot = this.makeSnapshot();
      for (const listener of [...this.listeners]) listener();
    });
  }

  private makeSnapshot(): ClientSnapshot {
    return {
      connection: this.connection,
      isLoading: !this.hydrated,
      error: this.error,
      seq: this.seq,
      epoch: this.epoch,
      aggregates: new Map(this.aggregates),
      events: [...this.events],
    };
  }
}

/** Creates a client and starts it (hydrate, then stream). */
export function connect(options: ConnectOptions): KitchenClient {
  return new KitchenClient(options).start();
}
