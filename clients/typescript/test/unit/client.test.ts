import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";

import {
  APIConnectionError,
  APITimeoutError,
  APIUserAbortError,
  AuthenticationError,
  BadRequestError,
  ConflictError,
  GenerationError,
  InternalServerError,
  NotFoundError,
  PermissionDeniedError,
  PluggablyClient,
  RateLimitError,
  UnprocessableEntityError,
  type StreamEvent,
} from "../../src/index.js";
import { json, ScriptedServer, sse } from "../support/scripted.js";

const server = new ScriptedServer();
const error = (code: string, message = "nope") => ({ error: { code, message, type: "t", param: "p", request_id: "r-9" } });
let client: PluggablyClient;

beforeAll(async () => void (await server.start()));
afterAll(async () => server.stop());
beforeEach(() => {
  server.reset();
  client = new PluggablyClient({ baseUrl: server.url + "/", apiKey: "pk-test", maxRetries: 2 });
});

describe("requests", () => {
  it("sends the key and JSON, and answers the parsed body", async () => {
    server.answer(json(200, { user_id: "u", username: "ada", is_admin: false, key_id: "k" }));
    expect((await client.me()).username).toBe("ada");
    const [request] = server.requests;
    expect(request!.url).toBe("/v1/me");
    expect(request!.headers["x-api-key"]).toBe("pk-test");
  });

  it("puts path and query parameters where the contract says", async () => {
    server.answer(json(200, { session_id: "s/1", events: [] }), json(200, { usage: [], totals: {} }));
    await client.sessions.history("s/1", { asOf: new Date("2026-01-24T12:00:00Z") });
    await client.usage.get({ from: new Date("2026-01-01T10:00:00Z"), to: "2026-01-31" });
    expect(server.requests[0]!.url).toBe("/v1/sessions/s%2F1/history?as_of=2026-01-24T12%3A00%3A00.000Z");
    expect(server.requests[1]!.url).toBe("/v1/usage?from=2026-01-01&to=2026-01-31");
  });

  it("signs in without a key, then uses the new one", async () => {
    const anonymous = new PluggablyClient({ baseUrl: server.url });
    server.answer(json(200, { api_key: "pk-session", key_id: "k1", expires_at: "2026-01-01T12:00:00Z",
      user: { id: "u1", username: "ada", is_admin: true } }), json(200, { keys: [] }));
    const session = await anonymous.auth.login("ada", "a-long-password");
    expect(session.user.is_admin).toBe(true);
    expect(anonymous.apiKey).toBe("pk-session");
    await anonymous.keys.list();
    expect(server.requests[0]!.headers["x-api-key"]).toBeUndefined();
    expect(JSON.parse(server.requests[0]!.body)).toEqual({ username: "ada", password: "a-long-password" });
    expect(server.requests[1]!.headers["x-api-key"]).toBe("pk-session");
  });
});

describe("errors", () => {
  it.each([
    [400, BadRequestError], [401, AuthenticationError], [403, PermissionDeniedError], [404, NotFoundError],
    [409, ConflictError], [422, UnprocessableEntityError],
  ] as const)("maps %i to its class with the gateway's code, param and request id", async (status, cls) => {
    server.answer(json(status, error("some_code", "what to fix")));
    const failure = await client.me().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(cls);
    expect(failure).toMatchObject({ status, code: "some_code", message: "what to fix", param: "p", requestId: "r-9" });
  });

  it("reads a body that is not the error shape as the message, and the request id from the header", async () => {
    server.answer((_req, res) => { res.writeHead(404, { "X-Request-ID": "hdr-1" }); res.end("plain words"); });
    const failure = await client.me().catch((e: unknown) => e);
    expect(failure).toMatchObject({ status: 404, message: "plain words", requestId: "hdr-1", code: null });
  });

  it("retries 5xx and 429 (honouring Retry-After), then succeeds", async () => {
    server.answer(json(502, error("provider_unavailable")), json(429, error("rate_limited"), { "Retry-After": "0" }),
      json(200, { user_id: "u", username: "ada", is_admin: false, key_id: "k" }));
    expect((await client.me()).username).toBe("ada");
    expect(server.requests).toHaveLength(3);
  });

  it("gives up after maxRetries with the last error, and never retries when the server says not to", async () => {
    server.answer(json(500, error("internal_error")), json(500, error("internal_error")), json(500, error("internal_error")));
    await expect(client.me()).rejects.toBeInstanceOf(InternalServerError);
    expect(server.requests).toHaveLength(3);
    server.reset();
    server.answer(json(429, error("too_many_sign_ins"), { "Retry-After": "30", "X-Should-Retry": "false" }));
    const failure = await client.auth.login("ada", "x").catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(RateLimitError);
    expect((failure as RateLimitError).retryAfter).toBe(30);
    expect(server.requests).toHaveLength(1);
  });

  it("reports a refused connection as APIConnectionError", async () => {
    const dead = new PluggablyClient({ baseUrl: "http://127.0.0.1:9", apiKey: "k", maxRetries: 0 });
    await expect(dead.me()).rejects.toBeInstanceOf(APIConnectionError);
  });

  it("times out each attempt, and aborts at once when the caller's signal fires", async () => {
    server.answer(json(200, {}, {}, 2000));
    const slow = new PluggablyClient({ baseUrl: server.url, apiKey: "k", timeoutMs: 100, maxRetries: 0 });
    await expect(slow.me()).rejects.toBeInstanceOf(APITimeoutError);
    let arrived!: () => void;
    const received = new Promise<void>((resolve) => (arrived = resolve));
    server.answer(() => arrived()); // and no answer, ever
    const controller = new AbortController();
    const pending = client.me({ signal: controller.signal });
    await received;
    controller.abort();
    await expect(pending).rejects.toBeInstanceOf(APIUserAbortError);
  });
});

const TOKENS: [string, number | null, unknown][] = [
  ["token", 1, { text: "Echo:" }], ["token", 2, { text: " hello" }], ["token", 3, { text: " world" }],
  ["done", 4, { request_id: "g-1", model: "m", modality: "text", output: { text: "Echo: hello world" },
    usage: { input_tokens: 1, output_tokens: 3, total_tokens: 4 }, finish_reason: "stop" }],
];

describe("streams", () => {
  it("yields typed events as they come", async () => {
    server.answer(sse(TOKENS, { headers: { "X-Generation-ID": "g-1" } }));
    const stream = client.stream({ modality: "text", input: { prompt: "hello world" } } as never);
    const events: StreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events.map((e) => e.type)).toEqual(["token", "token", "token", "done"]);
    expect(stream.generationId).toBe("g-1");
    expect(JSON.parse(server.requests[0]!.body).stream).toBe(true);
  });

  it("resumes a cut stream with Last-Event-ID, without losing or repeating a token", async () => {
    server.answer(sse(TOKENS, { cut: 2, headers: { "X-Generation-ID": "g-1" } }), sse(TOKENS.slice(1)));
    const stream = client.stream({ modality: "text", input: { prompt: "hello world" } } as never);
    const texts: string[] = [];
    let final = "";
    for await (const event of stream) {
      if (event.type === "token") texts.push(event.text);
      if (event.type === "done") final = event.response.output.text ?? "";
    }
    expect(texts.join("")).toBe("Echo: hello world");
    expect(final).toBe("Echo: hello world");
    expect(stream.reconnects).toBe(1);
    expect(server.requests[1]!.url).toBe("/v1/generations/g-1/events");
    expect(server.requests[1]!.headers["last-event-id"]).toBe("2");
  });

  it("throws GenerationError for an error event, and gives up on a stream it cannot resume", async () => {
    server.answer(sse([["token", 1, { text: "a" }], ["error", 2, { code: "provider_error", message: "boom",
      type: "provider_error", param: null, request_id: "g-2" }]]));
    await expect(client.stream({ input: { prompt: "x" } } as never).finalResponse()).rejects.toBeInstanceOf(GenerationError);
    server.answer(sse(TOKENS, { cut: 1 })); // no X-Generation-ID: nothing to resume from
    await expect(client.stream({ input: { prompt: "x" } } as never).text()).rejects.toBeInstanceOf(APIConnectionError);
  });

  it("stops reading when the caller aborts", async () => {
    server.answer((_req, res) => {
      res.writeHead(200, { "Content-Type": "text/event-stream", "X-Generation-ID": "g-3" });
      res.write("event: token\nid: 1\ndata: {\"text\":\"first\"}\n\n"); // and nothing more, ever
    });
    const controller = new AbortController();
    const stream = client.stream({ input: { prompt: "x" } } as never, { signal: controller.signal });
    const seen: string[] = [];
    const reading = (async () => {
      for await (const event of stream) {
        if (event.type === "token") seen.push(event.text);
        controller.abort();
      }
    })();
    await expect(reading).rejects.toBeInstanceOf(APIUserAbortError);
    expect(seen).toEqual(["first"]);
  });

  it("follows a download job to its end", async () => {
    const job = (status: string, pct: number) => ({ job_id: "j-1", status, progress_pct: pct });
    server.answer(sse([["progress", 1, job("running", 10)], ["progress", 2, job("running", 60)],
      ["done", 3, job("completed", 100)]]));
    const seen: number[] = [];
    const final = await client.jobs.wait("j-1", (j) => seen.push(j.progress_pct));
    expect(seen).toEqual([10, 60]);
    expect(final.status).toBe("completed");
  });
});
