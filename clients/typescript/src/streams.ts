/**
 * Server-sent events, parsed with `eventsource-parser`, as async iterables of typed events that resume by
 * themselves.
 *
 * Every event the gateway streams has an integer `id:` (1, 2, 3...). When the connection drops before the `done`
 * or `error` event, the stream reconnects (to `GET /v1/generations/{id}/events` or `GET /v1/jobs/{id}/events`)
 * with `Last-Event-ID: <last id seen>`; the gateway replays only what came after, and events already seen are
 * skipped anyway, so no token is lost or repeated. A generation's id comes from the `X-Generation-ID` header.
 */

import { createParser, type EventSourceMessage } from "eventsource-parser";

import { APIConnectionError, APIUserAbortError, GenerationError, isRecord } from "./errors.js";
import { anySignal, retryDelay, sleep } from "./transport.js";
import type { ErrorObject, GenerateResponse, Job } from "./types.js";

/** A piece of generated text. */
export interface TokenEvent { type: "token"; id: number | null; text: string }
/** A step of an image or mesh generation. */
export interface ProgressEvent { type: "progress"; id: number | null; step: number; total: number }
/** The last event of a successful generation: the same answer as a non-streamed request. */
export interface DoneEvent { type: "done"; id: number | null; response: GenerateResponse }
/** The last event of a failed or cancelled generation or job. */
export interface ErrorEvent { type: "error"; id: number | null; error: ErrorObject }
export type StreamEvent = TokenEvent | ProgressEvent | DoneEvent | ErrorEvent;

/** A download job's state while it runs. */
export interface JobProgressEvent { type: "progress"; id: number | null; job: Job }
/** The completed job. */
export interface JobDoneEvent { type: "done"; id: number | null; job: Job }
export type JobEvent = JobProgressEvent | JobDoneEvent | ErrorEvent;

/** Opens (or reopens, after `lastEventId`) the HTTP response of a stream. */
export type Opener = (lastEventId: number, signal: AbortSignal) => Promise<Response>;

interface StreamSpec<E> {
  /** The first request (`POST /v1/generate` with `stream: true`, or the events URL). */
  open: Opener;
  /** Reconnecting after a cut; null when the stream cannot be resumed (no generation id). */
  resume: () => Opener | null;
  typed: (message: EventSourceMessage) => E | null;
  opened?: (response: Response) => void;
  maxReconnects: number;
  signal?: AbortSignal;
}

const TERMINAL = new Set(["done", "error"]);

/** One logical stream over as many connections as it takes; iterate it once. */
export class EventStream<E extends { type: string; id: number | null }> implements AsyncIterable<E> {
  /** The id of the last event received (what `Last-Event-ID` says on a reconnect). */
  lastEventId = 0;
  /** How many times the stream reconnected. */
  reconnects = 0;
  private readonly controller = new AbortController();
  private started = false;

  constructor(private readonly spec: StreamSpec<E>) {}

  /** Stop reading: the connection is closed; iterating ends with `APIUserAbortError`. */
  abort(): void {
    this.controller.abort();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<E> {
    if (this.started) throw new Error("A stream can be iterated once.");
    this.started = true;
    const signal = anySignal([this.spec.signal, this.controller.signal]);
    let opener: Opener | null = this.spec.open;
    let failures = 0;
    try {
      while (opener !== null) {
        const response = await opener(this.lastEventId, signal);
        this.spec.opened?.(response);
        const messages: EventSourceMessage[] = [];
        const parser = createParser({ onEvent: (message) => messages.push(message) });
        try {
          for await (const chunk of textOf(response, signal)) {
            parser.feed(chunk);
            while (messages.length > 0) {
              const event = this.spec.typed(messages.shift()!);
              if (event === null) continue;
              if (event.id !== null) {
                if (event.id <= this.lastEventId) continue; // seen before the reconnect
                this.lastEventId = event.id;
              }
              failures = 0;
              yield event;
              if (TERMINAL.has(event.type)) return;
            }
          }
        } catch (error) {
          if (signal.aborted) throw new APIUserAbortError();
          if (!isNetworkError(error)) throw error;
        }
        // The connection ended before the last event: resume after what we have.
        opener = this.spec.resume();
        if (opener === null || failures >= this.spec.maxReconnects) {
          throw new APIConnectionError("The stream broke before its last event and could not be resumed.");
        }
        await sleep(retryDelay(failures), signal);
        failures += 1;
        this.reconnects += 1;
      }
    } finally {
      this.controller.abort(); // close whatever connection is still open
    }
  }
}

/** A streamed generation: iterate its events, or await `finalResponse()` / `text()`. */
export class GenerationStream extends EventStream<StreamEvent> {
  /** Known once the gateway answered (header `X-Generation-ID`). */
  generationId: string | null = null;
  private readonly events: StreamEvent[] = [];

  constructor(options: {
    open: Opener;
    resume: (generationId: string) => Opener;
    cancel: (generationId: string) => Promise<unknown>;
    maxReconnects: number;
    signal?: AbortSignal;
  }) {
    super({
      open: options.open,
      resume: () => (this.generationId ? options.resume(this.generationId) : null),
      typed: (message) => {
        const event = generationEvent(message);
        if (event?.type === "done") this.generationId ??= event.response.request_id;
        if (event) this.events.push(event);
        return event;
      },
      opened: (response) => {
        this.generationId ??= response.headers.get("x-generation-id");
      },
      maxReconnects: options.maxReconnects,
      signal: options.signal,
    });
    this.cancelGeneration = options.cancel;
  }

  private readonly cancelGeneration: (generationId: string) => Promise<unknown>;

  /** Read to the end; the `done` answer, or a `GenerationError` for an `error` event. */
  async finalResponse(): Promise<GenerateResponse> {
    let last: StreamEvent | undefined;
    for await (const event of this) last = event;
    if (last?.type === "done") return last.response;
    if (last?.type === "error") throw new GenerationError(last.error);
    throw new APIConnectionError("The stream ended without an outcome.");
  }

  /** Read to the end; the generated text. */
  async text(): Promise<string> {
    return (await this.finalResponse()).output.text ?? "";
  }

  /** Cancel the generation on the gateway (it stops upstream too) and stop reading. */
  async cancel(): Promise<void> {
    const id = this.generationId;
    this.abort();
    if (id) await this.cancelGeneration(id);
  }
}

/** A download job's events: `progress` (the job), then `done` (the completed job) or `error`. */
export class JobStream extends EventStream<JobEvent> {
  constructor(options: { open: Opener; maxReconnects: number; signal?: AbortSignal }) {
    super({ open: options.open, resume: () => options.open, typed: jobEvent, maxReconnects: options.maxReconnects,
      signal: options.signal });
  }
}

function eventId(message: EventSourceMessage): number | null {
  return message.id && /^\d+$/.test(message.id) ? Number(message.id) : null;
}

function errorOf(data: unknown): ErrorObject {
  const error = isRecord(data) && isRecord(data.error) ? data.error : data;
  return (isRecord(error) ? error : { code: "error", message: String(error) }) as ErrorObject;
}

/** The typed event of a generation's SSE message; unknown event names are skipped (a newer gateway may add some). */
export function generationEvent(message: EventSourceMessage): StreamEvent | null {
  const data: unknown = message.data ? JSON.parse(message.data) : {};
  const id = eventId(message);
  const record = isRecord(data) ? data : {};
  switch (message.event) {
    case "token":
      return { type: "token", id, text: typeof record.text === "string" ? record.text : "" };
    case "progress":
      return { type: "progress", id, step: Number(record.step ?? 0), total: Number(record.total ?? 0) };
    case "done":
      return { type: "done", id, response: data as GenerateResponse };
    case "error":
      return { type: "error", id, error: errorOf(data) };
    default:
      return null;
  }
}

/** The typed event of a download job's SSE message. */
export function jobEvent(message: EventSourceMessage): JobEvent | null {
  const data: unknown = message.data ? JSON.parse(message.data) : {};
  const id = eventId(message);
  switch (message.event) {
    case "progress":
      return { type: "progress", id, job: data as Job };
    case "done":
      return { type: "done", id, job: data as Job };
    case "error":
      return { type: "error", id, error: errorOf(data) };
    default:
      return null;
  }
}

async function* textOf(response: Response, signal: AbortSignal): AsyncGenerator<string> {
  if (!response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const onAbort = () => void reader.cancel().catch(() => undefined);
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    signal.removeEventListener("abort", onAbort);
    reader.releaseLock();
  }
}

/** A broken connection (as opposed to a bug in the caller's code, which is rethrown). */
function isNetworkError(error: unknown): boolean {
  return error instanceof TypeError || (error instanceof Error && /terminated|network|socket|abort/i.test(
    `${error.name} ${error.message}`));
}
