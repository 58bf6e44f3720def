import { defineConfig } from "vitest/config";

// Three suites: the SDK's unit tests (no gateway), the SDK against a real gateway, and the web app in Chromium
// against a real gateway. The last two get the gateway from tests/support/webstack.py (pytest starts it and
// passes PLUGGABLY_STACK; run alone, they start it themselves).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "sdk-unit",
          include: ["clients/typescript/test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        test: {
          name: "sdk-live",
          include: ["clients/typescript/test/live/**/*.test.ts"],
          environment: "node",
          globalSetup: ["tests/support/stack-setup.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "browser",
          include: ["tests/browser/**/*.test.ts"],
          environment: "node",
          globalSetup: ["tests/support/stack-setup.ts"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          sequence: { concurrent: false },
        },
      },
    ],
  },
});
