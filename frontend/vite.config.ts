import { defaultClientConditions, defineConfig } from "vite";

// The app imports the SDK from its TypeScript source (the "@pluggably/source" export condition of @pluggably/client), so
// building the app needs no separate build of the SDK.
export default defineConfig({
  base: "/",
  resolve: { conditions: ["@pluggably/source", ...defaultClientConditions] },
  oxc: { jsx: { runtime: "automatic", importSource: "preact" } },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1500, // the 3D viewer (three.js) is its own chunk, loaded only for a mesh
  },
  server: { port: 5173 },
});
