/**
 * The wire types the SDK speaks, taken from the generated OpenAPI types
 * (`generated/openapi.ts`, from `docs/openapi.json`; `npm run generate`, kept
 * current by `test/generated.test.ts`). Free-form JSON objects come out of the
 * generator as `Record<string, never>`; they are widened here to
 * `Record<string, unknown>` so payloads can be read.
 *
 * Stream frames are declared by hand from `docs/asyncapi.yaml` (with the
 * documentation a client needs) and checked both ways against the generated
 * `StreamFrame` below, so the two cannot drift apart.
 */
import type { components } from "./generated/openapi.js";

type Schemas = components["schemas"];
type Json = Record<string, unknown>;
type Widen<T, K extends keyof T, V> = Omit<T, K> & { [P in K]: V };

export type EventView = Widen<Schemas["EventView"], "payload" | "metadata", Json>;
export type AggregateSnapshot = Widen<Schemas["SnapshotView"], "state", Json>;
/** `GET /v1/snapshot`: every aggregate at `seq`, and the log's `epoch` (changes when the log is recreated). */
export type TenantSnapshot = Omit<Schemas["TenantSnapshotView"], "aggregates"> & { aggregates: AggregateSnapshot[] };
export type CommandView = Schemas["CommandView"];
export type CommandStatus = CommandView["status"];
export type FinalStatus = Extract<CommandStatus, "succeeded" | "rejected" | "failed">;
export type CommandAccepted = Schemas["CommandAccepted"];
export type Rejection = Schemas["Rejection"];
export type Problem = Schemas["Problem"];
export type TokenResponse = Schemas["TokenResponse"];
export type LoginRequest = Schemas["LoginRequest"];
export type ViewAtSeq<V = unknown> = Omit<Schemas["ViewAtSeq"], "view"> & { view: V };
export type SubmitCommand = Widen<Schemas["SubmitCommand"], "payload", Json>;

/** `{"type":"event"}`: one event of the tenant's log. */
export interface EventFrame {
  type: "event";
  event: EventView;
}
/** `{"type":"ready"}`: catch-up done up to `seq`; what follows is live; `epoch` names the log. */
export interface ReadyFrame {
  type: "ready";
  seq: number;
  epoch: string;
}
/** `{"type":"command"}`: a command of the tenant became final (no seq; live only). */
export interface CommandOutcomeFrame {
  type: "command";
  commandId: string;
  /** Always final (`succeeded`, `rejected`, `failed`); typed as the documented status enum. */
  status: CommandStatus;
  /** Present when `succeeded`. */
  eventSeqs?: number[] | null;
  /** Present when `rejected` or `failed`. */
  rejection?: Rejection | null;
}
/** `{"type":"reset"}`: `after` is beyond the head or the epoch changed: hydrate again (close 4009 follows). */
export interface ResetFrame {
  type: "reset";
  head: number;
  epoch: string;
}
export type StreamFrame = EventFrame | ReadyFrame | CommandOutcomeFrame | ResetFrame;

// Every frame the published contract documents must be one the SDK handles.
type Assert<T extends true> = T;
type Widened<F> = F extends { event: unknown } ? Omit<F, "event"> & { event: EventView } : F;
export type _SpecFramesAreHandled = Assert<Widened<Schemas["StreamFrame"]> extends StreamFrame ? true : false>;
// And every frame the SDK handles is one the contract documents.
export type _HandledFramesAreSpecified = Assert<StreamFrame extends Widened<Schemas["StreamFrame"]> ? true : false>;

/** Close codes of `GET /v1/stream` (docs/asyncapi.yaml). */
export const CloseCode = {
  goingAway: 1001,
  serverError: 1011,
  tokenExpired: 4001,
  tenantNotActive: 4003,
  tooSlow: 4008,
  rehydrate: 4009,
} as const;
