import { defineConfig } from "@playwright/test";

// Runs against a live `cantata serve` (or `vite preview` forwarding to one): CANTATA_UI_URL is
// the UI's address, CANTATA_TOKEN a token with the publisher role. The browser is the system's
// Chromium (CHROMIUM_PATH), not one Playwright downloads.
export default defineConfig({
  testDir: "tests/browser",
  timeout: 60_000,
  workers: 1,
  reporter: [["list"]],
  use: {
    baseURL: process.env.CANTATA_UI_URL ?? "http://127.0.0.1:8030/ui/",
    viewport: { width: 1400, height: 900 },
    launchOptions: { executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium" },
    screenshot: "only-on-failure",
  },
  outputDir: "test-results",
});
