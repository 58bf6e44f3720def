import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { expect, it } from "vitest";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../../../..");
const cli = join(dirname(createRequire(import.meta.url).resolve("openapi-typescript/package.json")), "bin", "cli.js");

it("src/schema.ts is what openapi-typescript makes of docs/contracts/openapi.yaml (npm run generate)", () => {
  const run = () => execFileSync(process.execPath, [cli, join(root, "docs/contracts/openapi.yaml"), "-o",
    join(root, "clients/typescript/src/schema.ts"), "--check"], { stdio: "pipe" });
  expect(run, "the generated types are stale: run `npm run generate -w @pluggably/client`").not.toThrow();
});
