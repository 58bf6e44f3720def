/** The SDK against a real `pluggably serve` (embedded), backed by the OpenAI fake and a fake hub. */

import { afterEach, beforeAll, describe, expect, it } from "vitest";

import {
  APIConnectionError,
  AuthenticationError,
  BadRequestError,
  GenerationError,
  NotFoundError,
  PermissionDeniedError,
  PluggablyClient,
  RateLimitError,
  UnprocessableEntityError,
  type GenerateRequest,
  type StreamEvent,
} from "../../src/index.js";
import { CuttingProxy } from "../support/proxy.js";
import { MODEL, PASSWORD, admin, eventually, fake, newUser, stack } from "../support/live.js";

const PROMPT = Array.from({ length: 40 }, (_, i) => `word${i}`).join(" ");
const EXPECTED = `Echo: ${PROMPT}`;
const ask = (prompt = PROMPT): GenerateRequest => ({ modality: "text", model: MODEL, input: { prompt } }) as GenerateRequest;

let user: Awaited<ReturnType<typeof newUser>>;

beforeAll(async () => {
  user = await newUser();
});
afterEach(async () => fake("reset"));

/** Tokens then done; ids 1, 2, 3... without a gap or a repeat; the text exactly once. */
function checkEvents(events: StreamEvent[], expected = EXPECTED): void {
  expect(events.at(-1)?.type).toBe("done");
  expect(events.map((e) => e.id)).toEqual(events.map((_, i) => i + 1));
  const text = events.flatMap((e) => (e.type === "token" ? [e.text] : [])).join("");
  expect(text).toBe(expected);
  const last = events.at(-1);
  expect(last?.type === "done" && last.response.output.text).toBe(expected);
}

async function collect(stream: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const events: StreamEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

describe("generate", () => {
  it("answers a whole text generation", async () => {
    const answer = await user.client.generate(ask("hello there"));
    expect(answer.output.text).toBe("Echo: hello there");
    expect(answer.model).toBe(MODEL);
    expect(answer.usage.output_tokens).toBe(3);
    const generation = await user.client.generations.get(answer.request_id);
    expect(generation.status).toBe("completed");
  });

  it("streams tokens as they come, then the same answer", async () => {
    const stream = user.client.stream(ask());
    checkEvents(await collect(stream));
    expect(stream.generationId).toMatch(/^[0-9a-f-]{36}$/);
    expect(stream.reconnects).toBe(0);
  });

  it.each([300, 700, 1400, 2100])("resumes a stream cut after %i bytes without loss or repetition", async (cut) => {
    const proxy = await new CuttingProxy(stack().url).start();
    try {
      proxy.cutNext(cut);
      const client = new PluggablyClient({ baseUrl: proxy.url, apiKey: user.client.apiKey, maxRetries: 2 });
      const stream = client.stream(ask());
      const events = await collect(stream);
      expect(proxy.cutsDone).toBe(1);
      expect(stream.reconnects).toBe(1);
      checkEvents(events);
    } finally {
      await proxy.stop();
    }
  });

  it("follows a generation that is still running after a cut, live", async () => {
    await fake("script", { hold: { after_events: 5 } }); // the upstream stops after 5 events until released
    const proxy = await new CuttingProxy(stack().url).start();
    try {
      proxy.cutNext(300);
      void proxy.connected(2).then(() => fake("release")); // the reconnect: let the generation go on
      const client = new PluggablyClient({ baseUrl: proxy.url, apiKey: user.client.apiKey, maxRetries: 2 });
      const stream = client.stream(ask());
      const events = await collect(stream);
      expect(stream.reconnects).toBe(1);
      checkEvents(events);
    } finally {
      await fake("release");
      await proxy.stop();
    }
  });

  it("gives up with APIConnectionError when it may not reconnect", async () => {
    const proxy = await new CuttingProxy(stack().url).start();
    try {
      proxy.cutNext(700);
      const client = new PluggablyClient({ baseUrl: proxy.url, apiKey: user.client.apiKey, maxRetries: 0 });
      const stream = client.stream(ask());
      await expect(collect(stream)).rejects.toBeInstanceOf(APIConnectionError);
      expect(stream.generationId).toBeTruthy();
      expect(stream.lastEventId).toBeGreaterThanOrEqual(1);
    } finally {
      await proxy.stop();
    }
  });

  it("cancels a streaming generation: the stream stops and the generation is cancelled", async () => {
    await fake("script", { hold: { after_events: 3 } });
    const stream = user.client.stream(ask());
    const seen: string[] = [];
    for await (const event of stream) {
      if (event.type === "token") seen.push(event.text);
      if (seen.length === 2) break;
    }
    await stream.cancel();
    const generation = await user.client.generations.get(stream.generationId!);
    expect(generation.status).toBe("cancelled");
    await fake("release");
  });

  it("a provider refusal ends the stream with an error event, a GenerationError for finalResponse()", async () => {
    await fake("script", { error: { status: 400, message: "Nope, not this prompt." } });
    const events = await collect(user.client.stream(ask("refused")));
    const last = events.at(-1);
    expect(last?.type === "error" && last.error.code).toBe("provider_rejected");
    await fake("script", { error: { status: 400, message: "Nope, not this prompt." } });
    const failure = await user.client.stream(ask("refused")).finalResponse().catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(GenerationError);
    expect((failure as GenerationError).message).toContain("Nope");
  });

  it("replays a finished generation's events", async () => {
    const done = await user.client.stream(ask("again please")).finalResponse();
    const replay = await collect(user.client.generations.events(done.request_id));
    checkEvents(replay, "Echo: again please");
    const tail = await collect(user.client.generations.events(done.request_id, { lastEventId: 2 }));
    expect(tail[0]?.id).toBe(3);
  });

  it("images come inline or as artifacts the owner can read", async () => {
    const big = await user.client.generate({ modality: "image", model: "openai:gpt-image-1",
      input: { prompt: "wall" }, parameters: { width: 1024, height: 1024 } } as GenerateRequest);
    const [artifact] = big.output.artifacts ?? [];
    expect(artifact?.mime_type).toBe("image/png");
    const blob = await user.client.artifacts.get(artifact!.url);
    const head = new Uint8Array(await blob.arrayBuffer()).slice(0, 4);
    expect(Array.from(head)).toEqual([0x89, 0x50, 0x4e, 0x47]);
    expect(blob.size).toBe(artifact!.size_bytes);
    const other = await newUser();
    await expect(other.client.artifacts.get(artifact!.id)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("sessions", () => {
  it("create, generate in, stream in, rename, history, list, delete", async () => {
    const session = await user.client.sessions.create({ title: "Plans", model: MODEL });
    expect(session.title).toBe("Plans");
    const first = await user.client.sessions.generate(session.id, { input: { prompt: "first" } } as GenerateRequest);
    expect(first.output.text).toBe("Echo: first");
    const streamed = await user.client.sessions.stream(session.id, { input: { prompt: "second" } } as GenerateRequest).text();
    expect(streamed).toBe("Echo: second");
    const detail = await user.client.sessions.get(session.id);
    expect(detail.messages.map((m) => `${m.role}:${m.content}`)).toEqual(
      ["user:first", "assistant:Echo: first", "user:second", "assistant:Echo: second"]);
    const past = await user.client.sessions.get(session.id, { asOf: new Date(Date.parse(detail.messages[1]!.created_at!) + 1) });
    expect(past.messages.length).toBeLessThan(4);
    expect((await user.client.sessions.rename(session.id, "Better plans")).title).toBe("Better plans");
    const history = await user.client.sessions.history(session.id);
    expect(history.events.map((e) => e.type)).toContain("ChatSession.Renamed");
    expect(history.events.map((e) => e.type)).toContain("Generation.Completed");
    expect((await user.client.sessions.list()).map((s) => s.id)).toContain(session.id);
    await user.client.sessions.delete(session.id);
    await expect(user.client.sessions.get(session.id)).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe("account", () => {
  it("keys: create, use, revoke, refused", async () => {
    const created = await user.client.keys.create("ts-sdk");
    expect(created.name).toBe("ts-sdk");
    const other = new PluggablyClient({ baseUrl: stack().url, apiKey: created.api_key });
    expect((await other.me()).key_id).toBe(created.key_id);
    expect((await user.client.keys.list()).map((k) => k.name)).toContain("ts-sdk");
    await user.client.keys.revoke(created.key_id);
    await expect(other.me()).rejects.toBeInstanceOf(AuthenticationError);
  });

  it("providers, usage in a date range, credentials (last four only)", async () => {
    const own = await newUser();
    expect((await own.client.providers.list()).find((p) => p.name === "openai")?.source).toBe("server");
    await own.client.generate(ask("count me"));
    const today = new Date().toISOString().slice(0, 10);
    const usage = await eventually(async () => { // metered from the events, a moment later
      const report = await own.client.usage.get({ from: today, to: today });
      expect(report.totals.requests).toBe(1);
      return report;
    });
    expect(usage.usage[0]?.model).toBe(MODEL);
    expect((await own.client.usage.get({ from: "2000-01-01", to: "2000-01-02" })).usage).toEqual([]);
    await expect(own.client.usage.get({ from: "yesterday" })).rejects.toBeInstanceOf(UnprocessableEntityError);
    const saved = await own.client.credentials.set("anthropic", { api_key: "sk-ant-own-secret-9876" });
    expect(saved.last4).toBe("9876");
    const listed = await own.client.credentials.list();
    expect(JSON.stringify(listed)).not.toContain("secret");
    expect((await own.client.providers.list()).find((p) => p.name === "anthropic")?.source).toBe("user");
    await own.client.credentials.remove("anthropic");
    expect(await own.client.credentials.list()).toEqual([]);
  });

  it("signs in with a password and out", async () => {
    const { username } = await newUser("signin");
    const { client, session } = await PluggablyClient.login({ baseUrl: stack().url }, username, PASSWORD);
    expect(session.user.username).toBe(username);
    expect(Date.parse(session.expires_at)).toBeGreaterThan(Date.now());
    expect((await client.me()).key_id).toBe(session.key_id);
    await client.auth.logout();
    await expect(client.me()).rejects.toBeInstanceOf(AuthenticationError);
    const anonymous = new PluggablyClient({ baseUrl: stack().url });
    const wrong = await anonymous.auth.login(username, "wrong").catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(AuthenticationError);
    expect((wrong as AuthenticationError).code).toBe("invalid_credentials");
  });

  it("too many failed sign-ins are a RateLimitError with retryAfter", async () => {
    const { username } = await newUser("throttled");
    const anonymous = new PluggablyClient({ baseUrl: stack().url });
    for (let i = 0; i < 5; i++) await expect(anonymous.auth.login(username, "guess")).rejects.toBeInstanceOf(AuthenticationError);
    const throttled = await anonymous.auth.login(username, PASSWORD).catch((e: unknown) => e);
    expect(throttled).toBeInstanceOf(RateLimitError);
    expect((throttled as RateLimitError).retryAfter).toBeGreaterThanOrEqual(1);
  });

  it("admins create, list and disable users; others may not", async () => {
    const { id, client } = await newUser("to-disable");
    expect((await admin().admin.listUsers()).map((u) => u.user_id)).toContain(id);
    await expect(client.admin.listUsers()).rejects.toBeInstanceOf(PermissionDeniedError);
    expect((await admin().admin.disableUser(id)).disabled).toBe(true);
    await expect(client.me()).rejects.toBeInstanceOf(AuthenticationError);
  });
});

describe("errors", () => {
  it("bad input, unknown things and missing credentials say what to fix", async () => {
    const invalid = await user.client.generate({ model: MODEL, input: { prompt: "x" }, parameters: { warmth: 1 } } as never)
      .catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(UnprocessableEntityError);
    expect((invalid as UnprocessableEntityError).code).toBe("unknown_parameter");
    expect((invalid as UnprocessableEntityError).requestId).toBeTruthy();
    await expect(user.client.sessions.get("00000000-0000-0000-0000-000000000000")).rejects.toBeInstanceOf(NotFoundError);
    const missing = await user.client.generate({ model: "anthropic:claude-haiku-4-5", input: { prompt: "x" } } as never)
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(BadRequestError);
    expect((missing as BadRequestError).message).toContain("Profile");
    const nobody = new PluggablyClient({ baseUrl: stack().url, apiKey: "pk-nobody" });
    await expect(nobody.me()).rejects.toBeInstanceOf(AuthenticationError);
  });

  it("models, search and download jobs", async () => {
    const models = await admin().models.list({ modality: "text" });
    expect(models.every((m) => m.modality === "text")).toBe(true);
    const page = await admin().models.search({ query: "tiny-llama", limit: 2 });
    expect(page.results).toHaveLength(2);
    const next = await admin().models.search({ query: "tiny-llama", limit: 2, cursor: page.next_cursor });
    expect(next.results[0]?.id).not.toBe(page.results[0]?.id);
    await expect(user.client.models.download({ model: { id: "nope", modality: "text" },
      source: { type: "huggingface", id: "plugai-org/tiny-llama-two" } })).rejects.toBeInstanceOf(PermissionDeniedError);
    const job = await admin().models.download({ model: { id: "ts-tiny-two", modality: "text" },
      source: { type: "huggingface", id: "plugai-org/tiny-llama-two" } });
    const progress: number[] = [];
    const done = await admin().jobs.wait(job.job_id, (j) => progress.push(j.progress_pct));
    expect(done.status).toBe("completed");
    expect((await admin().models.list()).map((m) => m.id)).toContain("local:ts-tiny-two");
    expect((await admin().models.delete("local:ts-tiny-two")).deleted).toBe(true);
  });
});
