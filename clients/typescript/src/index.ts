/**
 * `@pluggably/client`: the typed TypeScript client of the Pluggably gateway, for browsers and Node 20+.
 *
 * ```ts
 * import { PluggablyClient } from "@pluggably/client";
 * const client = new PluggablyClient({ baseUrl: "http://localhost:8080", apiKey: "your-key" });
 * const answer = await client.generate({ modality: "text", model: "openai:gpt-4o-mini", input: { prompt: "Hi" } });
 * ```
 */

export {
  Admin,
  Artifacts,
  Auth,
  Credentials,
  Generations,
  Jobs,
  Keys,
  Models,
  PluggablyClient,
  Providers,
  Sessions,
  UsageResource,
  type ClientOptions,
  type Day,
  type Instant,
} from "./client.js";
export * from "./errors.js";
export {
  EventStream,
  GenerationStream,
  JobStream,
  generationEvent,
  jobEvent,
  type DoneEvent,
  type ErrorEvent,
  type JobDoneEvent,
  type JobEvent,
  type JobProgressEvent,
  type ProgressEvent,
  type StreamEvent,
  type TokenEvent,
} from "./streams.js";
export { DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT_MS, VERSION, type RequestOptions } from "./transport.js";
export type * from "./types.js";
