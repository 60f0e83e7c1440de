import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

// The API's routes sit at the server's root; `vite dev` / `vite preview` forward them to
// CANTATA_API_URL so the UI and the API share one origin, as when `cantata serve` serves /ui.
const api = process.env.CANTATA_API_URL ?? "http://127.0.0.1:8030";
const proxy = Object.fromEntries(["/campaigns", "/runs", "/audiences", "/tokens", "/health"].map((p) => [p, api]));

export default defineConfig({
  plugins: [react()],
  // Relative asset URLs: the same build works at /ui/ on the server and at / in preview.
  base: "./",
  build: {
    outDir: "../src/cantata/server/static/ui",
    emptyOutDir: true,
    chunkSizeWarningLimit: 1000,
  },
  server: { proxy },
  preview: { proxy },
  test: {
    include: ["tests/unit/**/*.test.ts"],
    environment: "node",
  },
});
