import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

describe("generated wire types", () => {
  it("src/generated/openapi.ts is what docs/openapi.json generates (run `npm run generate`)", () => {
    const out = join(mkdtempSync(join(tmpdir(), "kitchen-openapi-")), "openapi.ts");
    execFileSync("npx", ["openapi-typescript", join(root, "../../docs/openapi.json"), "-o", out], { cwd: root, stdio: "pipe" });
    expect(readFileSync(join(root, "src/generated/openapi.ts"), "utf8")).toBe(readFileSync(out, "utf8"));
  }, 60_000);
});
