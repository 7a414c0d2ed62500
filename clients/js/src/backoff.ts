/**
 * Reconnect and retry delays: exponential with "equal jitter" (half fixed,
 * half random), so a fleet of pages that lost the same server does not come
 * back in lock-step, while no retry fires at ~0 ms.
 */
export interface BackoffPolicy {
  /** The first delay's ceiling. */
  baseMs: number;
  /** No delay exceeds this. */
  maxMs: number;
}

export const defaultBackoff: BackoffPolicy = { baseMs: 250, maxMs: 10_000 };

/** The delay before retry number `attempt` (0-based), with `random()` in [0, 1). */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number): number {
  const ceiling = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
