// The real platform for the browser tests: a fresh database (created and
// migrated by `kitchen-admin setup`), the four service binaries on free
// ports, on the Temporal dev server named by KITCHEN__TEMPORAL__ADDRESS (a
// task queue of its own, so other users of that server do not interfere),
// the console served by the gateway from clients/console/dist. Households
// are provisioned through the platform API (`kitchen-admin tenant create
// --wait`), like any household.
import { spawn, execFile } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const ARTIFACTS = join(ROOT, "target/e2e");
const SERVICES = ["command-gateway", "command-pump", "worker", "realtime"];

export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` until it returns a truthy value or `ms` pass (then throws `what`). */
export async function eventually(what, probe, ms = 10_000, every = 100) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    try {
      last = await probe();
      if (last) return last;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await sleep(every);
  }
}

export async function startStack({ accessTokenTtlSecs = 900, env: extraEnv = {} } = {}) {
  const temporal = process.env.KITCHEN__TEMPORAL__ADDRESS;
  if (!temporal) throw new Error("KITCHEN__TEMPORAL__ADDRESS must name a Temporal dev server (scripts/browser-tests starts one)");
  const bin = process.env.KITCHEN_BIN_DIR ?? join(ROOT, "target/debug");
  for (const name of [...SERVICES, "kitchen-admin"]) {
    if (!existsSync(join(bin, name))) throw new Error(`${join(bin, name)} is missing: cargo build --workspace --bins`);
  }
  const consoleDir = join(ROOT, "clients/console/dist");
  if (!existsSync(join(consoleDir, "index.html"))) throw new Error(`${consoleDir} is not built: npm run build (in clients/)`);
  const id = randomBytes(5).toString("hex");
  const ports = { gateway: await freePort(), realtime: await freePort(), pump: await freePort(), worker: await freePort() };
  const gatewayUrl = `http://127.0.0.1:${ports.gateway}`;
  const realtimeUrl = `ws://127.0.0.1:${ports.realtime}`;
  const env = {
    ...process.env,
    KITCHEN__DATABASE__NAME: `kitchen_e2e_${id}`,
    KITCHEN__TEMPORAL__TASK_QUEUE: `kitchen-e2e-${id}`,
    KITCHEN__GATEWAY__PORT: String(ports.gateway),
    KITCHEN__REALTIME__PORT: String(ports.realtime),
    KITCHEN__PUMP__PORT: String(ports.pump),
    KITCHEN__WORKER__PORT: String(ports.worker),
    KITCHEN__PUMP__SWEEP_INTERVAL_MS: "250",
    KITCHEN__GATEWAY__CONSOLE_DIR: consoleDir,
    KITCHEN__GATEWAY__PUBLIC_URL: gatewayUrl,
    KITCHEN__REALTIME__PUBLIC_URL: realtimeUrl,
    // The console's own origin (the gateway) and nothing else.
    KITCHEN__EDGE__ALLOWED_ORIGINS: gatewayUrl,
    KITCHEN__LOGIN__ACCESS_TOKEN_TTL_SECS: String(accessTokenTtlSecs),
    RUST_LOG: process.env.RUST_LOG ?? "warn",
    ...extraEnv,
  };
  const logs = join(ARTIFACTS, "logs", id);
  mkdirSync(logs, { recursive: true });
  await run(join(bin, "kitchen-admin"), ["setup"], { env });

  const children = new Map();
  // Whatever happens to the test process, its services go with it.
  process.once("exit", () => {
    for (const child of children.values()) if (child.exitCode === null) child.kill("SIGKILL");
  });
  const start = (name) => {
    const out = createWriteStream(join(logs, `${name}.log`), { flags: "a" });
    const child = spawn(join(bin, name), [], { env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.pipe(out);
    child.stderr.pipe(out);
    children.set(name, child);
    return child;
  };
  const ready = (url) => eventually(`${url} ready`, async () => (await fetch(url)).ok, 60_000, 200);
  for (const name of SERVICES) start(name);
  await Promise.all([
    ready(`${gatewayUrl}/readyz`),
    ready(`http://127.0.0.1:${ports.realtime}/readyz`),
    ready(`http://127.0.0.1:${ports.pump}/readyz`),
    ready(`http://127.0.0.1:${ports.worker}/readyz`),
  ]);

  const admin = (args, extra = {}) => run(join(bin, "kitchen-admin"), args, { env: { ...env, ...extra } });

  const stack = {
    id,
    ports,
    gatewayUrl,
    realtimeUrl,
    consoleUrl: `${gatewayUrl}/console/`,
    logs,
    /** SIGKILLs a service (no goodbye: the sockets just drop). */
    async kill(name) {
      const child = children.get(name);
      if (!child || child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await exited;
    },
    /** Starts a killed service again on the same port, and waits until it is ready. */
    async restart(name) {
      start(name);
      const port = { "command-gateway": ports.gateway, realtime: ports.realtime, "command-pump": ports.pump, worker: ports.worker }[name];
      await ready(`http://127.0.0.1:${port}/readyz`);
    },
    /** Provisions an active household through the platform API; returns its id. */
    async provision({ name, email, password }) {
      const { stdout } = await admin(
        ["tenant", "create", "--gateway", gatewayUrl, "--name", name, "--email", email, "--display-name", name, "--wait"],
        { KITCHEN_TENANT_ADMIN_PASSWORD: password },
      );
      const tenant = JSON.parse(stdout.slice(stdout.indexOf("{")));
      if (tenant.status !== "active") throw new Error(`household ${name} is ${tenant.status}: ${stdout}`);
      return tenant.tenantId;
    },
    /** A development token (HS256, role admin) for the test's own API calls. */
    async devToken(tenantId) {
      const { stdout } = await admin(["dev-token", "--tenant", tenantId, "--sub", "e2e-driver"]);
      return stdout.trim();
    },
    async api(token, method, path, body) {
      const response = await fetch(`${gatewayUrl}${path}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
    /** Sends a command and waits until it is final; returns the stored command. */
    async command(token, type, payload) {
      const posted = await stack.api(token, "POST", "/v1/commands", { type, payload });
      if (posted.status !== 202) throw new Error(`${type}: ${posted.status} ${JSON.stringify(posted.body)}`);
      return eventually(`${type} final`, async () => {
        const { body } = await stack.api(token, "GET", `/v1/commands/${posted.body.commandId}`);
        return ["succeeded", "rejected", "failed"].includes(body.status) ? body : null;
      });
    },
    /**
     * Gives the household's log a new epoch, as a restore from a backup or a
     * recreated log would (as the owner role, under the tenant's RLS).
     */
    async recreateEpoch(tenantId) {
      const sql = `BEGIN; SELECT set_config('app.tenant_id', '${tenantId}', true);
        UPDATE tenant_sequences SET epoch = gen_random_uuid() WHERE tenant_id = '${tenantId}'; COMMIT;`;
      await run("psql", ["-v", "ON_ERROR_STOP=1", "-qAt", "-h", env.KITCHEN__DATABASE__HOST ?? "127.0.0.1", "-p", env.KITCHEN__DATABASE__PORT ?? "5432", "-U", "kitchen_owner", "-d", env.KITCHEN__DATABASE__NAME, "-c", sql], {
        env: { ...env, PGPASSWORD: env.KITCHEN__DATABASE__ROLES__OWNER ?? "kitchen-owner-dev" },
      });
    },
    async stop() {
      for (const name of SERVICES) await stack.kill(name);
      await admin(["drop-database"]).catch((e) => console.error(`drop-database: ${e.message}`));
    },
  };
  return stack;
}
