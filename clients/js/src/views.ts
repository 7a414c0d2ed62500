/**
 * A read model (`GET /v1/views/{name}`) kept current by the stream: the view
 * says which seq it reflects, and whenever the client has applied a later
 * event the view is fetched again (one request at a time; the newest answer
 * wins). A re-hydration (the log was recreated) fetches it again too.
 */
import type { KitchenClient } from "./client.js";
import { KitchenError } from "./errors.js";

export interface ViewSnapshot<V> {
  isLoading: boolean;
  error: KitchenError | null;
  seq: number;
  view: V | undefined;
}

export class ViewWatcher<V = unknown> {
  private snapshot: ViewSnapshot<V> = { isLoading: true, error: null, seq: -1, view: undefined };
  private readonly listeners = new Set<() => void>();
  private unsubscribeClient: (() => void) | undefined;
  private inFlight = false;
  private epoch: string | null = null;
  fetches = 0;

  constructor(
    private readonly client: KitchenClient,
    readonly name: string,
    readonly key?: string,
  ) {}

  readonly getSnapshot = (): ViewSnapshot<V> => this.snapshot;

  readonly subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    if (!this.unsubscribeClient) {
      this.unsubscribeClient = this.client.subscribe(() => this.check());
      this.check();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) {
        this.unsubscribeClient?.();
        this.unsubscribeClient = undefined;
      }
    };
  };

  /** Fetches when the client is ahead of the view (or its log was recreated). */
  private check(): void {
    const state = this.client.getSnapshot();
    if (state.isLoading || this.inFlight) return;
    const recreated = this.epoch !== null && state.epoch !== this.epoch;
    if (this.snapshot.seq >= state.seq && !recreated && !this.snapshot.error) return;
    void this.fetch(state.epoch);
  }

  private async fetch(epoch: string | null): Promise<void> {
    this.inFlight = true;
    this.fetches += 1;
    try {
      const { seq, view } = await this.client.getView<V>(this.name, this.key);
      this.epoch = epoch;
      this.snapshot = { isLoading: false, error: null, seq, view };
    } catch (error) {
      const wrapped = error instanceof KitchenError ? error : new KitchenError(String(error));
      this.snapshot = { ...this.snapshot, isLoading: false, error: wrapped };
    } finally {
      this.inFlight = false;
    }
    for (const listener of [...this.listeners]) listener();
    // Events may have arrived while the request was out; an error waits for the next event.
    if (!this.snapshot.error) this.check();
  }
}
