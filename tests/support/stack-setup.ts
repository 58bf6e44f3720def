/**
 * vitest's global set-up for the suites that need a gateway: the one pytest started (PLUGGABLY_STACK, a JSON
 * object), or one of its own (`python -m tests.support.webstack`, stopped at the end).
 */

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

import type { TestProject } from "vitest/node";

export interface Stack {
  url: string;
  openai: string;
  hub: string;
  data_dir: string;
  admin: { username: string; password: string; api_key: string; user_id: string };
  slow_repo: string;
  log: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    stack: Stack;
  }
}

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
let child: ChildProcess | undefined;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  let stack: Stack;
  if (process.env.PLUGGABLY_STACK) {
    stack = JSON.parse(process.env.PLUGGABLY_STACK) as Stack;
  } else {
    const python = existsSync(join(root, ".venv/bin/python")) ? join(root, ".venv/bin/python") : "python3";
    const args = ["-m", "tests.support.webstack", ...(project.name === "browser" ? ["--local-models"] : [])];
    child = spawn(python, args, { cwd: root, stdio: ["pipe", "pipe", "inherit"] });
    const first = await new Promise<string>((resolveLine, reject) => {
      const lines = createInterface({ input: child!.stdout! });
      lines.once("line", resolveLine);
      child!.once("exit", (code) => reject(new Error(`tests.support.webstack exited with ${code}`)));
    });
    stack = JSON.parse(first) as Stack;
  }
  project.provide("stack", stack);
  return async () => {
    if (!child) return;
    const exited = new Promise((done) => child!.once("exit", done));
    child.stdin?.end();
    child.kill("SIGTERM");
    await exited;
  };
}
