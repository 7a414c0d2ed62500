// Built with base /console/ into dist/, which the gateway serves
// (`gateway.console_dir`). The SDK is compiled from its sources, so the
// console needs no separate build of @kitchen/client.
import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const sdk = (path: string) => fileURLToPath(new URL(`../js/src/${path}`, import.meta.url));

export default defineConfig({
  base: "/console/",
  plugins: [react()],
  resolve: {
    alias: [
      { find: /^@kitchen\/client\/react$/, replacement: sdk("react/index.ts") },
      { find: /^@kitchen\/client$/, replacement: sdk("index.ts") },
    ],
  },
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: true },
});
