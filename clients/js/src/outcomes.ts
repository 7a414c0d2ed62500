/**
 * Commands waiting for their outcome. An outcome arrives by the socket's
 * `command` frame, by the stored command of a repeated POST, or by
 * `GET /v1/commands/{id}` (after a reconnect, after a timeout). Whichever
 * comes first settles the command; the others find nothing to do.
 *
 * A succeeded command is resolved once its events are applied (so `state`
 * already shows it), or when its timer fires, whichever is first.
 */
import { CommandRejectedError } from "./errors.js";
import type { FinalStatus, Rejection } from "./wire.js";

export type ResolvedBy = "frame" | "poll" | "answer";

export type CommandResult =
  | { success: true; commandId: string; status: "succeeded"; eventSeqs: number[]; resolvedBy: ResolvedBy }
  | {
      success: false;
      commandId: string;
      status: "rejected" | "failed";
      rejection: Rejection;
      error: CommandRejectedError;
      resolvedBy: ResolvedBy;
    };

export interface Outcome {
  status: string;
  eventSeqs?: number[] | null;
  rejection?: Rejection | null;
}

const FINAL: ReadonlySet<string> = new Set<FinalStatus>(["succeeded", "rejected", "failed"]);
export const isFinal = (status: string): status is FinalStatus => FINAL.has(status);

interface Pending {
  resolve: (result: CommandResult) => void;
  reject: (error: unknown) => void;
  accepted: boolean;
  timer: unknown;
  /** A succeeded result waiting for its last event to be applied. */
  waiting?: { result: CommandResult; seq: number };
}

export class Outcomes {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly appliedSeq: () => number,
    private readonly clearTimer: (handle: unknown) => void,
  ) {}

  register(id: string): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, accepted: false, timer: undefined });
    });
  }

  isPending(id: string): boolean {
    return this.pending.has(id);
  }

  markAccepted(id: string): void {
    const entry = this.pending.get(id);
    if (entry) entry.accepted = true;
  }

  setTimer(id: string, handle: unknown): void {
    const entry = this.pending.get(id);
    if (entry) entry.timer = handle;
    else this.clearTimer(handle);
  }

  /** Accepted commands that have no outcome yet (to ask the gateway about). */
  unresolved(): string[] {
    return [...this.pending].filter(([, p]) => p.accepted && !p.waiting).map(([id]) => id);
  }

  /** Settles `id` from an outcome; false when it is not waiting or `outcome` is not final. */
  settle(id: string, outcome: Outcome, by: ResolvedBy): boolean {
    const entry = this.pending.get(id);
    if (!entry || entry.waiting || !isFinal(outcome.status)) return false;
    if (outcome.status === "succeeded") {
      const eventSeqs = outcome.eventSeqs ?? [];
      const result: CommandResult = { success: true, commandId: id, status: "succeeded", eventSeqs, resolvedBy: by };
      const last = Math.max(0, ...eventSeqs);
      if (last > this.appliedSeq()) {
        entry.waiting = { result, seq: last };
        return true;
      }
      this.finish(id, entry, result);
      return true;
    }
    const rejection = outcome.rejection ?? { code: outcome.status, reason: `command ${outcome.status}` };
    const status = outcome.status;
    this.finish(id, entry, {
      success: false,
      commandId: id,
      status,
      rejection,
      error: new CommandRejectedError(id, status, rejection),
      resolvedBy: by,
    });
    return true;
  }

  /** Resolves the succeeded commands whose events are now applied. */
  applied(seq: number): void {
    for (const [id, entry] of this.pending) {
      if (entry.waiting && entry.waiting.seq <= seq) this.finish(id, entry, entry.waiting.result);
    }
  }

  /** Resolves a succeeded command whose events did not arrive in time; true if it had one. */
  releaseWaiting(id: string): boolean {
    const entry = this.pending.get(id);
    if (!entry?.waiting) return false;
    this.finish(id, entry, entry.waiting.result);
    return true;
  }

  fail(id: string, error: unknown): void {
    const entry = this.pending.get(id);
    if (!entry) return;
    this.pending.delete(id);
    this.clearTimer(entry.timer);
    entry.reject(error);
  }

  failAll(error: unknown): void {
    for (const id of [...this.pending.keys()]) this.fail(id, error);
  }

  private finish(id: string, entry: Pending, result: CommandResult): void {
    this.pending.delete(id);
    this.clearTimer(entry.timer);
    entry.resolve(result);
  }
}
