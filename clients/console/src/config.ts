/**
 * Where the services are: `/console/config.json`, served by the gateway from
 * its settings (`gateway.public_url`, `realtime.public_url`). Under `vite dev`
 * there is no such file: the development defaults of configuration/base.toml.
 */
export interface ConsoleConfig {
  gatewayUrl: string;
  realtimeUrl: string;
  /** The household the login form proposes (`?tenant=` in the page's URL wins). */
  defaultTenantId?: string;
}

const DEV_DEFAULTS: ConsoleConfig = { gatewayUrl: "http://127.0.0.1:8080", realtimeUrl: "ws://127.0.0.1:8081" };

export async function loadConfig(): Promise<ConsoleConfig> {
  try {
    const response = await fetch(`${import.meta.env.BASE_URL}config.json`, { headers: { Accept: "application/json" } });
    if (!response.ok) return DEV_DEFAULTS;
    const config = (await response.json()) as Partial<ConsoleConfig>;
    if (!config.gatewayUrl || !config.realtimeUrl) return DEV_DEFAULTS;
    return config as ConsoleConfig;
  } catch {
    return DEV_DEFAULTS;
  }
}
