/**
 * `PluggablyClient`: one class, resources as properties (`client.sessions`, `client.keys`...), every call typed
 * from the OpenAPI contract through `openapi-fetch`, every call taking `{ signal }` last.
 */

import createClient, { type Client } from "openapi-fetch";

import { APIConnectionError } from "./errors.js";
import { GenerationStream, JobStream, type Opener } from "./streams.js";
import {
  DEFAULT_MAX_RETRIES,
  DEFAULT_TIMEOUT_MS,
  Transport,
  VERSION,
  type RequestOptions,
} from "./transport.js";
import type {
  ApiKeyInfo,
  CancelledGeneration,
  CatalogEntry,
  CredentialIn,
  CredentialInfo,
  DisabledUser,
  DownloadRequest,
  GenerateRequest,
  GenerateResponse,
  Generation,
  History,
  Job,
  LoginResponse,
  Me,
  Modality,
  NewApiKey,
  NewUser,
  Provider,
  ProviderName,
  RemovedModel,
  SavedCredential,
  SearchPage,
  Session,
  SessionAsOf,
  SessionDetail,
  SessionSummary,
  UsageReport,
  UserCreate,
  UserInfo,
  paths,
} from "./types.js";

export interface ClientOptions {
  /** The gateway, e.g. `http://localhost:8080` (in a page served by the gateway: `location.origin`). */
  baseUrl: string;
  /** An API key; leave it out to sign in with `auth.login()` first. */
  apiKey?: string | null;
  /** Per attempt of each request, in milliseconds (default 60 s; 0: none). */
  timeoutMs?: number;
  /** Retries of a request on a connection error, 408, 429 or 5xx, and reconnects of a broken stream (default 2). */
  maxRetries?: number;
  /** Sent with every request. */
  headers?: Record<string, string>;
  /** A `fetch` of your own (default `globalThis.fetch`). */
  fetch?: typeof fetch;
}

type Api = Client<paths, "application/json">;
type Query = Record<string, string | number | boolean | undefined | null>;

/** `asOf` may be a `Date` or an ISO 8601 string. */
export type Instant = Date | string;
/** A day: a `Date` (its UTC day) or `YYYY-MM-DD`. */
export type Day = Date | string;

function iso(value: Instant | undefined): string | undefined {
  return value instanceof Date ? value.toISOString() : value;
}

function day(value: Day | undefined): string | undefined {
  return value instanceof Date ? value.toISOString().slice(0, 10) : value;
}

function defined<T extends Query>(query: T): T {
  return Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined && v !== null)) as T;
}

/** A client of one Pluggably gateway. */
export class PluggablyClient {
  readonly baseUrl: string;
  /** The typed `openapi-fetch` client underneath, for anything not wrapped here (errors are thrown as here). */
  readonly api: Api;
  private readonly transport: Transport;

  readonly generations: Generations;
  readonly sessions: Sessions;
  readonly auth: Auth;
  readonly providers: Providers;
  readonly usage: UsageResource;
  readonly keys: Keys;
  readonly credentials: Credentials;
  readonly artifacts: Artifacts;
  readonly models: Models;
  readonly jobs: Jobs;
  readonly admin: Admin;

  constructor(options: ClientOptions) {
    if (!options.baseUrl) throw new TypeError("baseUrl is required, e.g. 'http://localhost:8080'.");
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.transport = new Transport({
      baseUrl: this.baseUrl,
      apiKey: options.apiKey ?? null,
      timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      maxRetries: options.maxRetries ?? DEFAULT_MAX_RETRIES,
      headers: options.headers ?? {},
      fetch: fetchImpl,
    });
    this.api = createClient<paths, "application/json">({ baseUrl: this.baseUrl, fetch: (request) => fetchImpl(request) });
    this.generations = new Generations(this);
    this.sessions = new Sessions(this);
    this.auth = new Auth(this);
    this.providers = new Providers(this);
    this.usage = new UsageResource(this);
    this.keys = new Keys(this);
    this.credentials = new Credentials(this);
    this.artifacts = new Artifacts(this);
    this.models = new Models(this);
    this.jobs = new Jobs(this);
    this.admin = new Admin(this);
  }

  /** Sign in with a password: a client holding the new `web session` key, and the sign-in's answer. */
  static async login(options: Omit<ClientOptions, "apiKey">, username: string, password: string,
    request?: RequestOptions): Promise<{ client: PluggablyClient; session: LoginResponse }> {
    const client = new PluggablyClient(options);
    const session = await client.auth.login(username, password, request);
    return { client, session };
  }

  /** The API key in use (null before a sign-in). */
  get apiKey(): string | null {
    return this.transport.options.apiKey;
  }

  set apiKey(value: string | null) {
    this.transport.options.apiKey = value;
  }

  /** @internal One typed call through openapi-fetch, sent by the transport (key, retries, errors). */
  async call<T>(
    run: (api: Api, init: { fetch: (r: Request) => Promise<Response>; headers: Headers; signal?: AbortSignal }) =>
      Promise<{ data?: T; response: Response }>,
    options: RequestOptions = {},
    anonymous = false,
  ): Promise<T> {
    const init = {
      fetch: (request: Request) => this.transport.send(request, options),
      headers: this.transport.headers(options.headers, anonymous),
      ...(options.signal ? { signal: options.signal } : {}),
    };
    const { data } = await run(this.api, init);
    return data as T;
  }

  /** @internal The raw response of `path` (streams, files), through the transport. */
  async fetchRaw(method: string, path: string, options: RequestOptions & { body?: unknown; query?: Query } = {},
  ): Promise<Response> {
    const url = new URL(this.transport.url(path));
    for (const [k, v] of Object.entries(defined(options.query ?? {}))) url.searchParams.set(k, String(v));
    const headers = this.transport.headers(options.headers);
    if (options.body !== undefined) headers.set("Content-Type", "application/json");
    const request = new Request(url, {
      method,
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
    });
    return this.transport.send(request, options);
  }

  /** @internal How many reconnects a stream may make. */
  maxReconnects(options: RequestOptions): number {
    return options.maxRetries ?? this.transport.options.maxRetries;
  }

  /** Generate and wait for the whole answer: `output.text`, `output.images` or `output.artifacts`. */
  generate(request: GenerateRequest, options?: RequestOptions): Promise<GenerateResponse> {
    return this.call((api, init) => api.POST("/v1/generate", { ...init, body: { ...request, stream: false } }), options);
  }

  /** Generate, receiving events as they come (tokens, progress, then `done` or `error`); a dropped connection
   * resumes by itself without losing or repeating anything. */
  stream(request: GenerateRequest, options: RequestOptions = {}): GenerationStream {
    return this.generations.stream("/v1/generate", request, options);
  }

  /** Who the API key belongs to. */
  me(options?: RequestOptions): Promise<Me> {
    return this.call((api, init) => api.GET("/v1/me", init), options);
  }

  /** Any other endpoint: the decoded JSON (`null` for no body); errors and retries as for every other call. */
  async request(method: string, path: string, options: RequestOptions & { body?: unknown; query?: Query } = {},
  ): Promise<unknown> {
    const response = await this.fetchRaw(method, path, options);
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  toString(): string {
    return `PluggablyClient(${this.baseUrl})`;
  }

  static readonly version = VERSION;
}

abstract class Resource {
  constructor(protected readonly client: PluggablyClient) {}
}

/** `/v1/generations`: status, cancel, events. */
export class Generations extends Resource {
  /** A generation's status (a `GenerateResponse.request_id` is a generation id). */
  get(generationId: string, options?: RequestOptions): Promise<Generation> {
    return this.client.call((api, init) =>
      api.GET("/v1/generations/{generation_id}", { ...init, params: { path: { generation_id: generationId } } }),
    options);
  }

  /** Cancel a generation that has not finished yet; a finished one is left as it is. */
  cancel(generationId: string, options?: RequestOptions): Promise<CancelledGeneration> {
    return this.client.call((api, init) =>
      api.DELETE("/v1/generations/{generation_id}", { ...init, params: { path: { generation_id: generationId } } }),
    options);
  }

  /** A generation's events again (all, or those after `lastEventId`), resuming like any stream. */
  events(generationId: string, options: RequestOptions & { lastEventId?: number } = {}): GenerationStream {
    const resume = this.opener(generationId, options);
    return new GenerationStream({
      open: (last, signal) => resume(Math.max(last, options.lastEventId ?? 0), signal),
      resume: (id) => this.opener(id, options),
      cancel: (id) => this.cancel(id),
      maxReconnects: this.client.maxReconnects(options),
      signal: options.signal,
    });
  }

  /** @internal */
  stream(path: string, request: GenerateRequest, options: RequestOptions): GenerationStream {
    return new GenerationStream({
      open: (_last, signal) => this.client.fetchRaw("POST", path, {
        ...options, signal, body: { ...request, stream: true },
        headers: { Accept: "text/event-stream", ...options.headers },
      }),
      resume: (id) => this.opener(id, options),
      cancel: (id) => this.cancel(id),
      maxReconnects: this.client.maxReconnects(options),
      signal: options.signal,
    });
  }

  private opener(generationId: string, options: RequestOptions): Opener {
    return (last, signal) => this.client.fetchRaw("GET", `/v1/generations/${encodeURIComponent(generationId)}/events`,
      { ...options, signal, headers: { Accept: "text/event-stream", ...(last ? { "Last-Event-ID": String(last) } : {}),
        ...options.headers } });
  }
}

/** `/v1/sessions`: chat sessions, their generations and their audit trail. */
export class Sessions extends Resource {
  /** Start a chat session; `model` becomes the default of its requests. */
  create(body: { title?: string | null; model?: string | null } = {}, options?: RequestOptions): Promise<Session> {
    return this.client.call((api, init) => api.POST("/v1/sessions", { ...init, body }), options);
  }

  /** The caller's sessions, most recently active first. */
  async list(options?: RequestOptions): Promise<SessionSummary[]> {
    const page = await this.client.call<{ sessions: SessionSummary[] }>(
      (api, init) => api.GET("/v1/sessions", init), options);
    return page.sessions;
  }

  /** A session with its messages; with `asOf`, as it was at that time. */
  get(sessionId: string, options?: RequestOptions): Promise<SessionDetail>;
  get(sessionId: string, options: RequestOptions & { asOf: Instant }): Promise<SessionAsOf>;
  get(sessionId: string, options: RequestOptions & { asOf?: Instant } = {}): Promise<SessionDetail | SessionAsOf> {
    return this.client.call((api, init) => api.GET("/v1/sessions/{session_id}", {
      ...init, params: { path: { session_id: sessionId }, query: defined({ as_of: iso(options.asOf) }) },
    }), options);
  }

  /** Change a session's title. */
  rename(sessionId: string, title: string, options?: RequestOptions): Promise<Session> {
    return this.client.call((api, init) => api.PATCH("/v1/sessions/{session_id}", {
      ...init, params: { path: { session_id: sessionId } }, body: { title },
    }), options);
  }

  /** Delete a session (its history stays in the event store). */
  async delete(sessionId: string, options?: RequestOptions): Promise<void> {
    await this.client.call((api, init) =>
      api.DELETE("/v1/sessions/{session_id}", { ...init, params: { path: { session_id: sessionId } } }), options);
  }

  /** Generate in the session: the conversation so far is the context; the prompt and the answer are appended. */
  generate(sessionId: string, request: GenerateRequest, options?: RequestOptions): Promise<GenerateResponse> {
    return this.client.call((api, init) => api.POST("/v1/sessions/{session_id}/generate", {
      ...init, params: { path: { session_id: sessionId } }, body: { ...request, stream: false },
    }), options);
  }

  /** `generate` as a stream of events. */
  stream(sessionId: string, request: GenerateRequest, options: RequestOptions = {}): GenerationStream {
    return this.client.generations.stream(`/v1/sessions/${encodeURIComponent(sessionId)}/generate`, request, options);
  }

  /** The audit trail: every stored event of the session and its generations (as of a time, if given). */
  history(sessionId: string, options: RequestOptions & { asOf?: Instant } = {}): Promise<History> {
    return this.client.call((api, init) => api.GET("/v1/sessions/{session_id}/history", {
      ...init, params: { path: { session_id: sessionId }, query: defined({ as_of: iso(options.asOf) }) },
    }), options);
  }
}

/** `/v1/auth`: signing in with a password and out. */
export class Auth extends Resource {
  /** Trade a username and password for a new key named `web session` that expires (`expires_at`); the client
   * uses it from now on. A wrong password and an unknown user are the same `AuthenticationError`; too many
   * failures a `RateLimitError` (not retried). */
  async login(username: string, password: string, options?: RequestOptions): Promise<LoginResponse> {
    const session = await this.client.call<LoginResponse>((api, init) =>
      api.POST("/v1/auth/login", { ...init, body: { username, password } }), options, true);
    this.client.apiKey = session.api_key;
    return session;
  }

  /** Sign out: revoke the key in use (any key; it answers 401 from now on). */
  async logout(options?: RequestOptions): Promise<void> {
    await this.client.call((api, init) => api.POST("/v1/auth/logout", init), options);
  }
}

/** `/v1/providers`. */
export class Providers extends Resource {
  /** Providers installed on the gateway, and whether the caller can use them (`source`: user, server, local). */
  async list(options?: RequestOptions): Promise<Provider[]> {
    return (await this.client.call<{ providers: Provider[] }>((api, init) => api.GET("/v1/providers", init),
      options)).providers;
  }
}

/** `/v1/usage`. */
export class UsageResource extends Resource {
  /** Per day, provider and model, with totals; `from` and `to` (days, both included) bound it. */
  get(range: { from?: Day; to?: Day } = {}, options?: RequestOptions): Promise<UsageReport> {
    return this.client.call((api, init) => api.GET("/v1/usage", {
      ...init, params: { query: defined({ from: day(range.from), to: day(range.to) }) },
    }), options);
  }
}

/** `/v1/keys`: the caller's API keys. */
export class Keys extends Resource {
  /** The caller's keys (never their secrets), oldest first. */
  async list(options?: RequestOptions): Promise<ApiKeyInfo[]> {
    return (await this.client.call<{ keys: ApiKeyInfo[] }>((api, init) => api.GET("/v1/keys", init), options)).keys;
  }

  /** A new key; `api_key` is shown this once. */
  create(name?: string, options?: RequestOptions): Promise<NewApiKey> {
    return this.client.call((api, init) => api.POST("/v1/keys", { ...init, body: name ? { name } : {} } as never),
      options);
  }

  /** Revoke one of the caller's keys. */
  async revoke(keyId: string, options?: RequestOptions): Promise<void> {
    await this.client.call((api, init) =>
      api.DELETE("/v1/keys/{key_id}", { ...init, params: { path: { key_id: keyId } } }), options);
  }
}

/** `/v1/me/credentials`: the caller's own provider keys (stored encrypted; only the last 4 characters return). */
export class Credentials extends Resource {
  async list(options?: RequestOptions): Promise<CredentialInfo[]> {
    return (await this.client.call<{ credentials: CredentialInfo[] }>(
      (api, init) => api.GET("/v1/me/credentials", init), options)).credentials;
  }

  /** Save (or replace) the caller's key for `provider`; Azure also takes `endpoint` and `api_version`. */
  set(provider: ProviderName, credential: CredentialIn, options?: RequestOptions): Promise<SavedCredential> {
    return this.client.call((api, init) => api.PUT("/v1/me/credentials/{provider}", {
      ...init, params: { path: { provider } }, body: credential,
    }), options);
  }

  async remove(provider: ProviderName, options?: RequestOptions): Promise<void> {
    await this.client.call((api, init) =>
      api.DELETE("/v1/me/credentials/{provider}", { ...init, params: { path: { provider } } }), options);
  }
}

/** `/v1/artifacts`: images and meshes too large to come inline (owner only). */
export class Artifacts extends Resource {
  /** The artifact's bytes; `id` or the `url` of an `ArtifactRef` (`/v1/artifacts/...`). */
  async get(idOrUrl: string, options: RequestOptions = {}): Promise<Blob> {
    const id = idOrUrl.replace(/^.*\/v1\/artifacts\//, "");
    const response = await this.client.fetchRaw("GET", `/v1/artifacts/${encodeURIComponent(id)}`,
      { ...options, headers: { Accept: "*/*", ...options.headers } });
    return response.blob();
  }
}

/** `/v1/models`: the catalogue, Hugging Face search, downloads. */
export class Models extends Resource {
  /** Local models (configured, downloaded, downloading) and the provider models the caller can use. */
  async list(filter: { modality?: Modality } = {}, options?: RequestOptions): Promise<CatalogEntry[]> {
    return (await this.client.call<{ models: CatalogEntry[] }>((api, init) => api.GET("/v1/models", {
      ...init, params: { query: defined({ modality: filter.modality }) },
    }), options)).models;
  }

  /** One page of Hugging Face search; pass the page's `next_cursor` as `cursor` for the next one. */
  search(query: { query?: string; modality?: Modality; cursor?: string | null; limit?: number } = {},
    options?: RequestOptions): Promise<SearchPage> {
    return this.client.call((api, init) => api.GET("/v1/models/search", {
      ...init,
      params: { query: defined({ source: "huggingface" as const, query: query.query, modality: query.modality,
        cursor: query.cursor ?? undefined, limit: query.limit }) },
    }), options);
  }

  /** Start downloading a model from Hugging Face (admins; or everyone where the operator allows it): a job. */
  download(request: DownloadRequest, options?: RequestOptions): Promise<Job> {
    return this.client.call((api, init) => api.POST("/v1/models/download", { ...init, body: request }), options);
  }

  /** Remove a downloaded model, files and all (admins). */
  delete(modelId: string, options?: RequestOptions): Promise<RemovedModel> {
    return this.client.call((api, init) =>
      api.DELETE("/v1/models/{model_id}", { ...init, params: { path: { model_id: modelId } } }), options);
  }
}

/** `/v1/jobs`: model downloads. */
export class Jobs extends Resource {
  async list(options?: RequestOptions): Promise<Job[]> {
    return (await this.client.call<{ jobs: Job[] }>((api, init) => api.GET("/v1/jobs", init), options)).jobs;
  }

  get(jobId: string, options?: RequestOptions): Promise<Job> {
    return this.client.call((api, init) =>
      api.GET("/v1/jobs/{job_id}", { ...init, params: { path: { job_id: jobId } } }), options);
  }

  /** Cancel a download: a queued job at once, a running one when its worker stopped (files removed). */
  cancel(jobId: string, options?: RequestOptions): Promise<Job> {
    return this.client.call((api, init) =>
      api.DELETE("/v1/jobs/{job_id}", { ...init, params: { path: { job_id: jobId } } }), options);
  }

  /** The job's events: `progress` (the job) as it runs, then `done` or `error`; resumes after a cut. */
  events(jobId: string, options: RequestOptions = {}): JobStream {
    return new JobStream({
      open: (last, signal) => this.client.fetchRaw("GET", `/v1/jobs/${encodeURIComponent(jobId)}/events`, {
        ...options, signal, headers: { Accept: "text/event-stream", ...(last ? { "Last-Event-ID": String(last) } : {}),
          ...options.headers },
      }),
      maxReconnects: this.client.maxReconnects(options),
      signal: options.signal,
    });
  }

  /** Follow a job to its end; `onProgress` sees each state. Answers the final job (completed, failed or
   * cancelled). */
  async wait(jobId: string, onProgress?: (job: Job) => void, options: RequestOptions = {}): Promise<Job> {
    for await (const event of this.events(jobId, options)) {
      if (event.type === "progress") onProgress?.(event.job);
      else if (event.type === "done") return event.job;
      else return this.get(jobId, options);
    }
    throw new APIConnectionError("The job's stream ended without an outcome.");
  }
}

/** `/v1/admin`: users (admins only). */
export class Admin extends Resource {
  /** A new user with a first API key (`api_key`, shown this once). */
  createUser(user: UserCreate, options?: RequestOptions): Promise<NewUser> {
    return this.client.call((api, init) => api.POST("/v1/admin/users", { ...init, body: user }), options);
  }

  async listUsers(options?: RequestOptions): Promise<UserInfo[]> {
    return (await this.client.call<{ users: UserInfo[] }>((api, init) => api.GET("/v1/admin/users", init),
      options)).users;
  }

  /** Lock a user out: every key they hold stops working; their history stays. */
  disableUser(userId: string, options?: RequestOptions): Promise<DisabledUser> {
    return this.client.call((api, init) =>
      api.POST("/v1/admin/users/{user_id}/disable", { ...init, params: { path: { user_id: userId } } }), options);
  }

  /** Crypto-shredding: erase the user's data key; their stored provider credentials become unreadable for good. */
  async shredSecrets(userId: string, options?: RequestOptions): Promise<void> {
    await this.client.call((api, init) =>
      api.DELETE("/v1/admin/users/{user_id}/secrets", { ...init, params: { path: { user_id: userId } } }), options);
  }
}
