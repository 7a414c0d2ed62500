/**
 * React bindings of @kitchen/client: seed 000's `useEventStream` and a
 * `useView` kept current by the stream. Wrap the app in `<KitchenProvider
 * options={{gatewayUrl, realtimeUrl, getToken, refreshToken}}>`.
 */
import {
  createContext,
  createElement,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from "react";
import type { ClientSnapshot, ConnectionState, KitchenClient, PutCommandOptions } from "../client.js";
import { ClosedError, type KitchenError } from "../errors.js";
import type { AggregateState } from "../fold.js";
import type { CommandResult } from "../outcomes.js";
import { ViewWatcher, type ViewSnapshot } from "../views.js";
import type { EventView } from "../wire.js";
import { ClientPool, type PoolOptions } from "./pool.js";

export { ClientPool } from "./pool.js";
export type { PoolOptions } from "./pool.js";

const PoolContext = createContext<ClientPool | null>(null);
const ClientContext = createContext<KitchenClient | null>(null);

/** Gives the tree its connection settings; clients are made per household on demand. */
export function KitchenProvider(props: { options: PoolOptions; children?: ReactNode }) {
  const pool = useMemo(() => new ClientPool(props.options), [props.options]);
  useEffect(() => () => pool.closeAll(), [pool]);
  return createElement(PoolContext.Provider, { value: pool }, props.children);
}

const IDLE: ClientSnapshot = {
  connection: "connecting",
  isLoading: true,
  error: null,
  seq: 0,
  epoch: null,
  aggregates: new Map(),
  events: [],
};
const noSubscription = () => () => {};

export interface EventStream {
  isLoading: boolean;
  error: KitchenError | null;
  /** The most recent events (oldest first). */
  events: readonly EventView[];
  /** Hydrated aggregates by id, kept current by the stream. */
  state: ReadonlyMap<string, AggregateState>;
  seq: number;
  connection: ConnectionState;
  putCommand: (type: string, payload: Record<string, unknown>, options?: PutCommandOptions) => Promise<CommandResult>;
  client: KitchenClient | null;
}

/** Seed 000's hook: hydrate from the snapshot, then stream; `onEvent` sees each event once. */
export function useEventStream({ tenantId, onEvent }: { tenantId: string; onEvent?: (event: EventView) => void }): EventStream {
  const pool = useContext(PoolContext);
  if (!pool) throw new Error("useEventStream needs a <KitchenProvider> above it");
  const [client, setClient] = useState<KitchenClient | null>(null);
  useEffect(() => {
    const acquired = pool.acquire(tenantId);
    setClient(acquired);
    return () => pool.release(tenantId);
  }, [pool, tenantId]);

  const onEventRef = useRef(onEvent);
  onEventRef.current = onEvent;
  useEffect(() => client?.listen((event) => onEventRef.current?.(event)), [client]);

  const snapshot = useSyncExternalStore(client ? client.subscribe : noSubscription, client ? client.getSnapshot : () => IDLE);
  const putCommand = useCallback<EventStream["putCommand"]>(
    (type, payload, options) =>
      client ? client.putCommand(type, payload, options) : Promise.reject(new ClosedError("not connected yet")),
    [client],
  );
  return {
    isLoading: snapshot.isLoading,
    error: snapshot.error,
    events: snapshot.events,
    state: snapshot.aggregates,
    seq: snapshot.seq,
    connection: snapshot.connection,
    putCommand,
    client,
  };
}

/** Shares the `useEventStream` client of a household with the components below. */
export function KitchenClientProvider(props: { client: KitchenClient | null; children?: ReactNode }) {
  return createElement(ClientContext.Provider, { value: props.client }, props.children);
}

// One watcher per (client, view, key), shared by every component that reads it.
const watchers = new WeakMap<KitchenClient, Map<string, ViewWatcher<unknown>>>();
function watcherFor<V>(client: KitchenClient, name: string, key?: string): ViewWatcher<V> {
  let byView = watchers.get(client);
  if (!byView) watchers.set(client, (byView = new Map()));
  const id = `${name}\u0000${key ?? ""}`;
  let watcher = byView.get(id);
  if (!watcher) byView.set(id, (watcher = new ViewWatcher<unknown>(client, name, key)));
  return watcher as ViewWatcher<V>;
}

const LOADING_VIEW: ViewSnapshot<never> = { isLoading: true, error: null, seq: -1, view: undefined };

/** `GET /v1/views/{name}` of the household below `<KitchenClientProvider>`, fetched again when the stream moves past it. */
export function useView<V = unknown>(name: string, key?: string): ViewSnapshot<V> {
  const client = useContext(ClientContext);
  const watcher = useMemo(() => (client ? watcherFor<V>(client, name, key) : null), [client, name, key]);
  return useSyncExternalStore(
    watcher ? watcher.subscribe : noSubscription,
    watcher ? watcher.getSnapshot : () => LOADING_VIEW as ViewSnapshot<V>,
  );
}
