/**
 * The console: the login form until a session exists (kept in sessionStorage,
 * so a reload stays logged in), then the household.
 */
import { Session, type SessionState } from "@kitchen/client";
import { KitchenProvider, type PoolOptions } from "@kitchen/client/react";
import { useMemo, useState } from "react";
import type { ConsoleConfig } from "./config";
import { Household } from "./Household";
import { Login } from "./Login";

const STORAGE_KEY = "kitchen.session";

function restore(config: ConsoleConfig): Session | null {
  try {
    const saved = sessionStorage.getItem(STORAGE_KEY);
    return saved ? new Session(config.gatewayUrl, JSON.parse(saved) as SessionState) : null;
  } catch {
    return null;
  }
}

/** Keeps the stored pair current as the refresh token rotates. */
function persisting(session: Session): Session {
  const store = (state: SessionState) => sessionStorage.setItem(STORAGE_KEY, JSON.stringify(state));
  store(session.saved);
  session.onRotate = store;
  return session;
}

export function App({ config }: { config: ConsoleConfig }) {
  const [session, setSession] = useState<Session | null>(() => {
    const restored = restore(config);
    return restored ? persisting(restored) : null;
  });
  const options = useMemo<PoolOptions | null>(
    () =>
      session && {
        gatewayUrl: config.gatewayUrl,
        realtimeUrl: config.realtimeUrl,
        getToken: session.getToken,
        refreshToken: session.refreshToken,
      },
    [config, session],
  );
  const logout = () => {
    session?.logout().catch(() => {});
    sessionStorage.removeItem(STORAGE_KEY);
    setSession(null);
  };
  if (!session || !options || !session.tenantId) {
    return <Login config={config} onLogin={(s) => setSession(persisting(s))} />;
  }
  return (
    <KitchenProvider options={options}>
      <Household tenantId={session.tenantId} role={session.role} userId={session.claims.sub ?? "me"} onLogout={logout} />
    </KitchenProvider>
  );
}
