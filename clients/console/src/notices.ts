/**
 * What became of the commands this page sent: each outcome (or refusal) as a
 * line the user reads, newest first.
 */
import { ProblemError, type CommandResult } from "@kitchen/client";
import { useCallback, useState } from "react";

export interface Notice {
  id: number;
  kind: "ok" | "rejected" | "error";
  text: string;
}

let counter = 0;

export function describeResult(label: string, result: CommandResult): Notice {
  if (result.success) {
    const seqs = result.eventSeqs.length ? ` (seq ${result.eventSeqs.join(", ")})` : "";
    return { id: ++counter, kind: "ok", text: `${label}: succeeded${seqs}` };
  }
  return { id: ++counter, kind: "rejected", text: `${label}: ${result.status} — ${result.rejection.reason} (${result.rejection.code})` };
}

export function describeError(label: string, error: unknown): Notice {
  if (error instanceof ProblemError) {
    const field = error.field ? ` [${error.field}]` : "";
    return { id: ++counter, kind: "error", text: `${label}: refused — ${error.detail || error.title} (${error.code})${field}` };
  }
  return { id: ++counter, kind: "error", text: `${label}: ${error instanceof Error ? error.message : String(error)}` };
}

/** `run(label, promise)` records the outcome of a command; `notices` lists them. */
export function useNotices() {
  const [notices, setNotices] = useState<Notice[]>([]);
  const push = useCallback((notice: Notice) => setNotices((list) => [notice, ...list].slice(0, 20)), []);
  const run = useCallback(
    async (label: string, command: Promise<CommandResult>) => {
      try {
        push(describeResult(label, await command));
      } catch (error) {
        push(describeError(label, error));
      }
    },
    [push],
  );
  return { notices, run };
}
