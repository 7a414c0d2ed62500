import { login, ProblemError, type Session } from "@kitchen/client";
import { useState, type FormEvent } from "react";
import type { ConsoleConfig } from "./config";

const DEMO_TENANT = "7d4f4a52-4b44-4b9e-9a0e-0e5f2b7c1a11";

export function Login({ config, onLogin }: { config: ConsoleConfig; onLogin: (session: Session) => void }) {
  const params = new URLSearchParams(location.search);
  const [tenantId, setTenantId] = useState(params.get("tenant") ?? config.defaultTenantId ?? DEMO_TENANT);
  const [email, setEmail] = useState(params.get("email") ?? "");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onLogin(await login({ gatewayUrl: config.gatewayUrl, tenantId: tenantId.trim(), email: email.trim(), password }));
    } catch (e) {
      setError(
        e instanceof ProblemError
          ? e.status === 401
            ? "Wrong household, email or password."
            : `${e.title}: ${e.detail || e.code}`
          : `The gateway cannot be reached (${String(e)}).`,
      );
    } finally {
      setBusy(false);
    }
  };

  return (
    <main className="login">
      <h1>KitchenEats</h1>
      <form onSubmit={submit} aria-label="log in">
        <label>
          Household
          <input name="tenant" value={tenantId} onChange={(e) => setTenantId(e.target.value)} required />
        </label>
        <label>
          Email
          <input name="email" type="email" autoComplete="username" value={email} onChange={(e) => setEmail(e.target.value)} required />
        </label>
        <label>
          Password
          <input
            name="password"
            type="password"
            autoComplete="current-password"
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            required
          />
        </label>
        <button type="submit" disabled={busy}>
          {busy ? "Logging in…" : "Log in"}
        </button>
        {error && (
          <p role="alert" className="error" data-testid="login-error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}
