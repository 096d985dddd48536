import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Real sockets and child processes: give slow runtimes room, and never run two heavy files at once
    // on a 2-core machine.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    maxWorkers: 2,
    // Any unhandled rejection or uncaught exception fails the run.
    dangerouslyIgnoreUnhandledErrors: false,
  },
});
