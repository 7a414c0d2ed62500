/**
 * Keeps hydrated aggregates current from events. The default reducer mirrors
 * the domain's `evolve` for orders and menus (shared/domain/src/{order,menu}/
 * state.rs), the shapes `GET /v1/snapshot` returns; pass your own `reduce` to
 * `connect()` for anything else. Unknown event types only move the version.
 */
import type { AggregateSnapshot, EventView } from "./wire.js";

export interface AggregateState {
  aggregateType: string;
  aggregateId: string;
  version: number;
  seq: number;
  state: Record<string, unknown>;
}

export type Reducer = (state: Record<string, unknown>, event: EventView) => Record<string, unknown>;

export function fromSnapshot(row: AggregateSnapshot): AggregateState {
  return {
    aggregateType: row.aggregateType,
    aggregateId: row.aggregateId,
    version: row.version,
    seq: row.seq,
    state: row.state,
  };
}

/** Applies `event` to its aggregate's entry (creating it), returning a new entry. */
export function applyEvent(current: AggregateState | undefined, event: EventView, reduce: Reducer): AggregateState {
  const base: AggregateState = current ?? {
    aggregateType: event.aggregateType,
    aggregateId: event.aggregateId,
    version: 0,
    seq: 0,
    state: {},
  };
  return { ...base, version: event.version, seq: event.seq, state: reduce(base.state, event) };
}

type Menu = { items?: Record<string, Record<string, unknown>> };

export const defaultReducer: Reducer = (state, event) => {
  const p = event.payload;
  switch (event.type) {
    case "OrderCreated":
      return {
        state: "placed",
        orderId: p.orderId,
        customerId: p.customerId,
        items: p.items,
        status: "placed",
        ...(p.scheduledFor ? { scheduledFor: p.scheduledFor } : {}),
        due: false,
        version: event.version,
      };
    case "OrderStatusUpdated":
      return { ...state, status: p.to, version: event.version };
    case "OrderCancelled":
      return {
        ...state,
        status: "cancelled",
        ...(p.reason ? { cancelReason: p.reason } : {}),
        version: event.version,
      };
    case "OrderDue":
      return { ...state, due: true, version: event.version };
    case "MenuItemAdded":
    case "MenuItemChanged":
    case "MenuItemRemoved": {
      const items = { ...((state as Menu).items ?? {}) };
      const id = String(p.menuItemId);
      if (event.type === "MenuItemAdded") {
        items[id] = { name: p.name, priceCents: p.priceCents, available: true };
      } else if (event.type === "MenuItemRemoved") {
        delete items[id];
      } else {
        const patch: Record<string, unknown> = {};
        for (const key of ["name", "priceCents", "available"]) if (p[key] !== undefined && p[key] !== null) patch[key] = p[key];
        const existing = items[id];
        if (existing) items[id] = { ...existing, ...patch };
      }
      return { ...state, items };
    }
    default:
      return state;
  }
};
