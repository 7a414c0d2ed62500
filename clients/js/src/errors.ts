/**
 * Typed errors, one per way a call can fail, so callers branch on the class
 * (or `code`) instead of parsing messages.
 */
import type { Problem, Rejection } from "./wire.js";

export class KitchenError extends Error {
  override name = "KitchenError";
}

/** The server answered with `application/problem+json` (or another non-2xx). Nothing was written. */
export class ProblemError extends KitchenError {
  override name = "ProblemError";
  readonly status: number;
  readonly code: string;
  readonly title: string;
  readonly detail: string;
  readonly field: string | undefined;
  /** Seconds from `Retry-After`, when the server sent it (429, 503). */
  readonly retryAfterSecs: number | undefined;

  constructor(status: number, problem: Partial<Problem>, retryAfterSecs?: number) {
    super(problem.detail ?? problem.title ?? `HTTP ${status}`);
    this.status = status;
    this.code = problem.code ?? `http_${status}`;
    this.title = problem.title ?? `HTTP ${status}`;
    this.detail = problem.detail ?? "";
    this.field = problem.field ?? undefined;
    this.retryAfterSecs = retryAfterSecs;
  }

  /** Worth sending again (same idempotency id): the server was busy or down. */
  get retryable(): boolean {
    return this.status === 429 || this.status === 503 || this.status === 502 || this.status === 504;
  }
}

/** The request never got an answer (connection refused, reset, DNS, CORS). */
export class NetworkError extends KitchenError {
  override name = "NetworkError";
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** The command was refused by the domain (`rejected`) or could not run (`failed`). */
export class CommandRejectedError extends KitchenError {
  override name = "CommandRejectedError";
  readonly commandId: string;
  readonly status: "rejected" | "failed";
  readonly code: string;
  readonly reason: string;
  constructor(commandId: string, status: "rejected" | "failed", rejection: Rejection | null | undefined) {
    const code = rejection?.code ?? status;
    const reason = rejection?.reason ?? `command ${status}`;
    super(`${code}: ${reason}`);
    this.commandId = commandId;
    this.status = status;
    this.code = code;
    this.reason = reason;
  }
}

/** No outcome within `commandDeadlineMs` (neither a frame nor `GET /v1/commands/{id}` had one). */
export class OutcomeTimeoutError extends KitchenError {
  override name = "OutcomeTimeoutError";
  readonly commandId: string;
  constructor(commandId: string, waitedMs: number) {
    super(`no outcome for command ${commandId} after ${waitedMs} ms`);
    this.commandId = commandId;
  }
}

/** The client was closed (or the session ended) while the call was waiting. */
export class ClosedError extends KitchenError {
  override name = "ClosedError";
}
