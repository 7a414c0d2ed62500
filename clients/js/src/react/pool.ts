/**
 * One client per household for a whole React tree: the first component that
 * asks for a household connects, the last one to let go closes it (a moment
 * later, so React's mount-unmount-mount in development does not reconnect).
 */
import { KitchenClient, type ConnectOptions } from "../client.js";

export type PoolOptions = Omit<ConnectOptions, "tenantId" | "onEvent">;

export class ClientPool {
  private readonly clients = new Map<string, { client: KitchenClient; users: number; closing?: ReturnType<typeof setTimeout> }>();

  constructor(readonly options: PoolOptions) {}

  acquire(tenantId: string): KitchenClient {
    let entry = this.clients.get(tenantId);
    if (!entry) {
      entry = { client: new KitchenClient({ ...this.options, tenantId }).start(), users: 0 };
      this.clients.set(tenantId, entry);
    }
    if (entry.closing) clearTimeout(entry.closing);
    entry.closing = undefined;
    entry.users += 1;
    return entry.client;
  }

  release(tenantId: string): void {
    const entry = this.clients.get(tenantId);
    if (!entry) return;
    entry.users -= 1;
    if (entry.users > 0) return;
    entry.closing = setTimeout(() => {
      if (entry.users > 0) return;
      this.clients.delete(tenantId);
      entry.client.close();
    }, 100);
  }

  closeAll(): void {
    for (const { client, closing } of this.clients.values()) {
      if (closing) clearTimeout(closing);
      client.close();
    }
    this.clients.clear();
  }
}
