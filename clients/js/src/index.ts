/**
 * @kitchen/client: the KitchenEats browser SDK. No runtime dependencies
 * beyond the platform's `fetch` and `WebSocket`.
 */
export { connect, KitchenClient, streamUrl } from "./client.js";
export type { ClientSnapshot, ClientStats, ConnectOptions, ConnectionState, PutCommandOptions } from "./client.js";
export type { CommandResult, ResolvedBy } from "./outcomes.js";
export { login, Session } from "./session.js";
export type { LoginOptions, SessionState } from "./session.js";
export { ViewWatcher } from "./views.js";
export type { ViewSnapshot } from "./views.js";
export { defaultReducer } from "./fold.js";
export type { AggregateState, Reducer } from "./fold.js";
export { backoffDelay, defaultBackoff } from "./backoff.js";
export type { BackoffPolicy } from "./backoff.js";
export { decodeClaims } from "./tokens.js";
export type { TokenClaims, TokenSource } from "./tokens.js";
export type { Clock, Env, SocketFactory, SocketLike } from "./env.js";
export {
  ClosedError,
  CommandRejectedError,
  KitchenError,
  NetworkError,
  OutcomeTimeoutError,
  ProblemError,
} from "./errors.js";
export { CloseCode } from "./wire.js";
export type * from "./wire.js";
