/**
 * Sending one request: the API key, a timeout per attempt, the caller's `AbortSignal`, retries with backoff on
 * connection errors, 408, 429 and 5xx (honouring `Retry-After` and `X-Should-Retry`), and typed errors.
 * The policy is the Python SDK's.
 */

import {
  APIConnectionError,
  APITimeoutError,
  APIUserAbortError,
  retryAfterOf,
  statusError,
} from "./errors.js";

export const VERSION = "0.1.0";
export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_RETRIES = 2;
const INITIAL_RETRY_DELAY_S = 0.5;
const MAX_RETRY_DELAY_S = 8;
const MAX_RETRY_AFTER_S = 60;

/** Options every call takes as its last argument. */
export interface RequestOptions {
  /** Abort the call (and, for a stream, stop reading it). */
  signal?: AbortSignal;
  /** Per attempt; default the client's `timeoutMs`. */
  timeoutMs?: number;
  /** Default the client's `maxRetries`. */
  maxRetries?: number;
  /** Extra headers for this call. */
  headers?: Record<string, string>;
}

export interface TransportOptions {
  baseUrl: string;
  apiKey: string | null;
  timeoutMs: number;
  maxRetries: number;
  headers: Record<string, string>;
  fetch: typeof fetch;
}

/** A signal that fires when any of `signals` does (`AbortSignal.any` where the platform has it). */
export function anySignal(signals: (AbortSignal | undefined)[]): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length === 1) return present[0]!;
  const any = (AbortSignal as { any?: (s: AbortSignal[]) => AbortSignal }).any;
  if (any) return any(present);
  const controller = new AbortController();
  for (const signal of present) {
    if (signal.aborted) {
      controller.abort(signal.reason);
      break;
    }
    signal.addEventListener("abort", () => controller.abort(signal.reason), { once: true });
  }
  return controller.signal;
}

/** Wait `seconds`, or reject with `APIUserAbortError` as soon as `signal` fires. */
export function sleep(seconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new APIUserAbortError());
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, seconds * 1000);
    const onAbort = () => {
      clearTimeout(timer);
      reject(new APIUserAbortError());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Seconds before retry number `attempt + 1`: the server's `Retry-After` (up to a minute), else exponential
 * backoff with jitter (0.5 s, 1 s, 2 s... up to 8 s). */
export function retryDelay(attempt: number, response?: Response): number {
  if (response) {
    const after = retryAfterOf(response.headers);
    if (after !== null && after <= MAX_RETRY_AFTER_S) return after;
  }
  const delay = Math.min(INITIAL_RETRY_DELAY_S * 2 ** attempt, MAX_RETRY_DELAY_S);
  return delay * (1 - 0.25 * Math.random());
}

/** Retry 408, 429 and 5xx; a server that says `X-Should-Retry` decides for itself. */
export function shouldRetry(response: Response): boolean {
  const verdict = response.headers.get("x-should-retry");
  if (verdict === "true" || verdict === "false") return verdict === "true";
  return response.status === 408 || response.status === 429 || response.status >= 500;
}

export class Transport {
  constructor(readonly options: TransportOptions) {}

  url(path: string): string {
    return this.options.baseUrl + path;
  }

  /** The headers of every request: the API key (unless `anonymous`), JSON, the SDK's name. */
  headers(extra?: Record<string, string>, anonymous = false): Headers {
    const headers = new Headers({ Accept: "application/json", ...this.options.headers, ...extra });
    if (!anonymous && this.options.apiKey) headers.set("X-API-Key", this.options.apiKey);
    return headers;
  }

  /**
   * Send `request` (retried on a fresh copy each time) and answer the first successful response; a 4xx/5xx
   * that is not retried becomes its typed error. Aborts become `APIUserAbortError`, timeouts `APITimeoutError`.
   */
  async send(request: Request, options: RequestOptions = {}): Promise<Response> {
    const maxRetries = options.maxRetries ?? this.options.maxRetries;
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    const userSignal = options.signal;
    for (let attempt = 0; ; attempt++) {
      if (userSignal?.aborted) throw new APIUserAbortError();
      const timeout = new AbortController();
      const timer = timeoutMs > 0 ? setTimeout(() => timeout.abort(), timeoutMs) : undefined;
      let response: Response;
      try {
        const signal = anySignal([userSignal, timeout.signal]);
        response = await this.options.fetch(new Request(request.clone(), { signal }));
      } catch (error) {
        if (userSignal?.aborted) throw new APIUserAbortError();
        const failure = timeout.signal.aborted
          ? new APITimeoutError()
          : new APIConnectionError(`Connection error: ${describe(error)}`, { cause: error });
        if (attempt < maxRetries) {
          await sleep(retryDelay(attempt), userSignal);
          continue;
        }
        throw failure;
      } finally {
        clearTimeout(timer);
      }
      if (response.ok) return response;
      if (attempt < maxRetries && shouldRetry(response)) {
        await response.body?.cancel().catch(() => undefined);
        await sleep(retryDelay(attempt, response), userSignal);
        continue;
      }
      throw await statusError(response);
    }
  }
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}
