/** The order board by status, from the hydrated state kept current by the stream. */
import type { AggregateState } from "@kitchen/client";
import type { EventStream } from "@kitchen/client/react";

const COLUMNS = ["placed", "confirmed", "preparing", "ready", "delivered", "cancelled"] as const;
const NEXT: Record<string, string> = { placed: "confirmed", confirmed: "preparing", preparing: "ready", ready: "delivered" };

interface OrderState {
  orderId: string;
  status: string;
  customerId?: string;
  items?: { menuItemId: string; quantity: number; notes?: string[] }[];
  cancelReason?: string;
}

type Props = {
  state: ReadonlyMap<string, AggregateState>;
  putCommand: EventStream["putCommand"];
  run: (label: string, command: ReturnType<EventStream["putCommand"]>) => Promise<void>;
};

export function Board({ state, putCommand, run }: Props) {
  const orders = [...state.values()]
    .filter((a) => a.aggregateType === "order" && (a.state as Partial<OrderState>).status)
    .map((a) => ({ ...(a.state as unknown as OrderState), seq: a.seq }))
    .sort((a, b) => a.seq - b.seq);
  return (
    <section className="board" data-testid="board" aria-label="order board">
      {COLUMNS.map((status) => {
        const inColumn = orders.filter((o) => o.status === status);
        return (
          <div key={status} className="column" data-testid={`column-${status}`}>
            <h3>
              {status} <span className="count">{inColumn.length}</span>
            </h3>
            {inColumn.map((order) => (
              <article key={order.orderId} className="order" data-testid="order" data-order-id={order.orderId} data-status={order.status}>
                <div className="order-id">#{order.orderId.slice(0, 8)}</div>
                <ul>
                  {(order.items ?? []).map((item, i) => (
                    <li key={i}>
                      {item.quantity} × {item.menuItemId}
                      {item.notes?.length ? <em> ({item.notes.join("; ")})</em> : null}
                    </li>
                  ))}
                </ul>
                {order.cancelReason && <p className="reason">{order.cancelReason}</p>}
                <div className="actions">
                  {NEXT[order.status] && (
                    <button
                      data-testid="advance"
                      onClick={() =>
                        run(`advance to ${NEXT[order.status]}`, putCommand("updateOrderStatus", { orderId: order.orderId, status: NEXT[order.status] }))
                      }
                    >
                      → {NEXT[order.status]}
                    </button>
                  )}
                  {order.status !== "delivered" && order.status !== "cancelled" && (
                    <button
                      data-testid="cancel"
                      onClick={() => run("cancel", putCommand("cancelOrder", { orderId: order.orderId, reason: "cancelled from the console" }))}
                    >
                      cancel
                    </button>
                  )}
                </div>
              </article>
            ))}
          </div>
        );
      })}
    </section>
  );
}
