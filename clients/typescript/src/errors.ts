/**
 * The SDK's one error hierarchy, the same as the Python SDK's (itself modelled on openai-python's):
 *
 * ```
 * APIError
 * ├── APIStatusError            the gateway answered with a 4xx/5xx status
 * │   ├── BadRequestError           400
 * │   ├── AuthenticationError       401
 * │   ├── PermissionDeniedError     403
 * │   ├── NotFoundError             404
 * │   ├── ConflictError             409
 * │   ├── UnprocessableEntityError  422
 * │   ├── RateLimitError            429
 * │   └── InternalServerError       5xx
 * ├── APIConnectionError        no answer at all (refused, reset, DNS...), or a stream that could not resume
 * │   └── APITimeoutError           the request timed out
 * ├── APIUserAbortError         the caller's AbortSignal fired
 * └── GenerationError           a stream ended with an `error` event
 * ```
 */

import type { ErrorObject } from "./types.js";

/** Base of every error the SDK throws. `code`, `type`, `param` and `requestId` come from the gateway's error
 * object when there was one (`{"error": {"code", "message", "type", "param", "request_id"}}`). */
export class APIError extends Error {
  readonly code: string | null;
  readonly type: string | null;
  readonly param: string | null;
  requestId: string | null;
  /** The gateway's error object (or whatever the body was). */
  readonly body: unknown;

  constructor(message: string, body?: unknown) {
    super(message);
    this.name = new.target.name;
    this.body = body;
    const error = isRecord(body) ? body : {};
    this.code = typeof error.code === "string" ? error.code : null;
    this.type = typeof error.type === "string" ? error.type : null;
    this.param = typeof error.param === "string" ? error.param : null;
    this.requestId = typeof error.request_id === "string" ? error.request_id : null;
  }
}

/** The gateway answered with an error status. */
export class APIStatusError extends APIError {
  readonly status: number;
  readonly headers: Headers;

  constructor(message: string, status: number, headers: Headers, body?: unknown) {
    super(message, body);
    this.status = status;
    this.headers = headers;
    this.requestId = this.requestId ?? headers.get("x-request-id");
  }

  override toString(): string {
    const code = this.code ? ` (${this.code})` : "";
    const id = this.requestId ? ` [request ${this.requestId}]` : "";
    return `Error ${this.status}${code}: ${this.message}${id}`;
  }
}

/** 400: malformed request, a provider that rejected it, or no provider configured for it. */
export class BadRequestError extends APIStatusError {}
/** 401: the API key is missing, unknown, revoked or expired; or a wrong username or password. */
export class AuthenticationError extends APIStatusError {}
/** 403: the key is valid but may not do this (an admin-only route, a disabled account). */
export class PermissionDeniedError extends APIStatusError {}
/** 404: no such resource for this user. */
export class NotFoundError extends APIStatusError {}
/** 409: the resource's state forbids the request (a taken name, a finished generation...). */
export class ConflictError extends APIStatusError {}
/** 422: the request failed validation; `param` names the offending field. */
export class UnprocessableEntityError extends APIStatusError {}

/** 429: too many requests; `retryAfter` is how many seconds the gateway asked to wait (or null). */
export class RateLimitError extends APIStatusError {
  readonly retryAfter: number | null;

  constructor(message: string, status: number, headers: Headers, body?: unknown) {
    super(message, status, headers, body);
    this.retryAfter = retryAfterOf(headers, body);
  }
}

/** 5xx: the gateway or the upstream provider failed; retried automatically before it reaches you. */
export class InternalServerError extends APIStatusError {}

/** The request never got an answer: connection refused or reset, DNS failure, a broken stream. */
export class APIConnectionError extends APIError {
  constructor(message = "Connection error.", options?: { cause?: unknown }) {
    super(message);
    if (options?.cause !== undefined) (this as { cause?: unknown }).cause = options.cause;
  }
}

/** The request timed out (the client's `timeoutMs`). */
export class APITimeoutError extends APIConnectionError {
  constructor() {
    super("Request timed out.");
  }
}

/** The caller aborted the request through its `AbortSignal`. */
export class APIUserAbortError extends APIError {
  constructor() {
    super("Request was aborted.");
  }
}

/** A streamed generation ended with an `error` event (thrown by `finalResponse()` and `text()`). */
export class GenerationError extends APIError {
  constructor(error: ErrorObject) {
    super(error.message || "The generation failed.", error);
  }
}

const STATUS_ERRORS: Record<number, typeof APIStatusError> = {
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  422: UnprocessableEntityError,
  429: RateLimitError,
};

/** The error for a 4xx/5xx answer, built from the gateway's `{"error": {...}}` body when there is one. */
export async function statusError(response: Response): Promise<APIStatusError> {
  const text = await response.text().catch(() => "");
  let payload: unknown = null;
  try {
    payload = text ? JSON.parse(text) : null;
  } catch {
    payload = null;
  }
  const inner = isRecord(payload) && isRecord(payload.error) ? payload.error : null;
  const message = inner && typeof inner.message === "string" && inner.message
    ? inner.message
    : text.trim().slice(0, 500) || response.statusText || `HTTP ${response.status}`;
  const cls = STATUS_ERRORS[response.status] ?? (response.status >= 500 ? InternalServerError : APIStatusError);
  return new cls(message, response.status, response.headers, inner ?? payload);
}

/** Seconds to wait from `Retry-After-Ms`, `Retry-After` (seconds or an HTTP date) or the body's `retry_after`. */
export function retryAfterOf(headers: Headers, body?: unknown): number | null {
  const ms = Number.parseFloat(headers.get("retry-after-ms") ?? "");
  if (Number.isFinite(ms)) return Math.max(0, ms / 1000);
  const raw = headers.get("retry-after");
  if (raw) {
    const seconds = Number(raw);
    if (Number.isFinite(seconds)) return Math.max(0, seconds);
    const date = Date.parse(raw);
    if (Number.isFinite(date)) return Math.max(0, (date - Date.now()) / 1000);
  }
  if (isRecord(body) && typeof body.retry_after === "number") return Math.max(0, body.retry_after);
  return null;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
