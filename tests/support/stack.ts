/** What the TypeScript suites that talk to the stack's gateway share (tests/support/webstack.py): its address and
 * admin, the OpenAI fake's controls, and waiting for what the gateway records a moment later. */

import { inject } from "vitest";

import { PluggablyClient } from "../../clients/typescript/src/index.js";
import type { Stack } from "./stack-setup.js";

export const stack = (): Stack => inject("stack");

export function admin(): PluggablyClient {
  return new PluggablyClient({ baseUrl: stack().url, apiKey: stack().admin.api_key });
}

/** Script the OpenAI fake (`{"error": {...}}`, `{"delay": {...}}`, `{"hold": {...}}`...), or `reset`/`release`. */
export async function fake(command: "script" | "reset" | "release", body: unknown = {}): Promise<void> {
  const response = await fetch(`${stack().openai}/__fake__/${command}`, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`fake ${command}: ${response.status}`);
}

/** `check()` until it passes (usage is metered from the events a moment later), at most `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
