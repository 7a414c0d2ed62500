/**
 * One household, live: connection state, the order board, a new-order form,
 * the menu and the event log, all fed by one `useEventStream` client.
 */
import type { EventView } from "@kitchen/client";
import { KitchenClientProvider, useEventStream } from "@kitchen/client/react";
import { useEffect } from "react";
import { Board } from "./Board";
import { EventLog } from "./EventLog";
import { Menu } from "./Menu";
import { NewOrder } from "./NewOrder";
import { useNotices } from "./notices";

declare global {
  interface Window {
    /** For the end-to-end tests and the curious: the page's client and the events it was told of. */
    kitchen?: { client: unknown; received: number[] };
  }
}

/** Every seq `onEvent` was called with, in order (the tests check: each once). */
const received: number[] = [];

export function Household(props: { tenantId: string; role: string; userId: string; onLogout: () => void }) {
  const stream = useEventStream({ tenantId: props.tenantId, onEvent: (event: EventView) => received.push(event.seq) });
  const { notices, run } = useNotices();
  useEffect(() => {
    window.kitchen = { client: stream.client, received };
  }, [stream.client]);

  return (
    <KitchenClientProvider client={stream.client}>
      <header>
        <h1>KitchenEats</h1>
        <span className="household" title="household">
          {props.tenantId}
        </span>
        <span className="role" data-testid="role">
          {props.role}
        </span>
        <span className={`connection ${stream.connection}`} data-testid="connection" role="status">
          {stream.connection}
        </span>
        <span data-testid="seq">seq {stream.seq}</span>
        <button onClick={props.onLogout}>Log out</button>
      </header>
      {stream.error && stream.connection !== "live" && (
        <p className="error" role="alert" data-testid="stream-error">
          {stream.error.message}
          {stream.connection === "closed" && <button onClick={props.onLogout}>Log in again</button>}
        </p>
      )}
      {stream.isLoading ? (
        <p>Loading…</p>
      ) : (
        <main className="household-main">
          <section className="left">
            <NewOrder userId={props.userId} putCommand={stream.putCommand} run={run} />
            <ul className="notices" data-testid="notices">
              {notices.map((n) => (
                <li key={n.id} className={n.kind} data-testid="notice" data-kind={n.kind}>
                  {n.text}
                </li>
              ))}
            </ul>
            <Board state={stream.state} putCommand={stream.putCommand} run={run} />
          </section>
          <aside>
            <Menu admin={props.role === "admin"} putCommand={stream.putCommand} run={run} />
            <EventLog events={stream.events} />
          </aside>
        </main>
      )}
    </KitchenClientProvider>
  );
}
