/**
 * Chat: the sessions list (new, rename, delete), the model picker, the conversation with replies streamed as they
 * come (markdown rendered safely; images and meshes shown), Send and Stop. The last session reopens on a reload.
 */

import type {
  CatalogEntry, GenerationStream, Modality, Output as OutputData, PluggablyClient, SessionSummary,
} from "@pluggably/client";
import { APIUserAbortError } from "@pluggably/client";
import { useEffect, useRef, useState } from "preact/hooks";

import { Alert, Loading } from "../components/Alert";
import { Markdown } from "../components/Markdown";
import { ModelPicker } from "../components/ModelPicker";
import { Output } from "../components/Output";
import { useAction, useApp, useResource } from "../context";
import { errorMessage } from "../errors";
import { Link, navigate } from "../router";
import { lastModel, lastSession, rememberModel, rememberSession } from "../settings";

interface Turn {
  key: string;
  role: "user" | "assistant";
  text: string;
  status: "done" | "streaming" | "stopped" | "failed";
  error?: string;
  output?: OutputData;
  prompt?: string;
  progress?: { step: number; total: number };
}

/** The options a reply can take, per modality (empty: the model's default). */
const OPTIONS: Record<Modality, { name: string; label: string; min: number; max: number; step?: number }[]> = {
  text: [{ name: "max_tokens", label: "Max tokens", min: 1, max: 1_000_000 },
    { name: "temperature", label: "Temperature", min: 0, max: 2, step: 0.1 }],
  image: [{ name: "width", label: "Width", min: 8, max: 4096, step: 8 }, { name: "height", label: "Height", min: 8, max: 4096, step: 8 },
    { name: "steps", label: "Steps", min: 1, max: 500 }],
  "3d": [{ name: "steps", label: "Steps", min: 1, max: 500 }],
};

function parametersOf(modality: Modality, values: Record<string, string>): Record<string, number> {
  const chosen: Record<string, number> = {};
  for (const option of OPTIONS[modality]) {
    const raw = values[`${modality}.${option.name}`]?.trim();
    if (raw) chosen[option.name] = Number(raw);
  }
  return chosen;
}

let turnIds = 0;
const turnKey = () => `turn-${++turnIds}`;

export function Chat({ sessionId }: { sessionId: string | null }) {
  const { client } = useApp();
  const sessions = useResource((signal) => client.sessions.list({ signal }), [client]);
  const models = useResource((signal) => client.models.list({}, { signal }), [client]);

  // /chat alone reopens the last session, if it still exists.
  useEffect(() => {
    const last = lastSession();
    if (sessionId === null && last && sessions.data?.some((s) => s.id === last)) {
      navigate(`/chat/${last}`, { replace: true });
    }
  }, [sessionId, sessions.data]);
  useEffect(() => {
    if (sessionId) rememberSession(sessionId);
  }, [sessionId]);

  return (
    <div class="chat">
      <SessionList sessions={sessions.data} error={sessions.error} current={sessionId} reload={sessions.reload} />
      <Conversation key="conversation" sessionId={sessionId} models={models.data} modelsError={models.error}
        sessionModel={sessions.data?.find((s) => s.id === sessionId)?.model ?? null} onChanged={sessions.reload} />
    </div>
  );
}

function SessionList({ sessions, error, current, reload }: {
  sessions: SessionSummary[] | undefined; error: string | null; current: string | null; reload(): void;
}) {
  const { client } = useApp();
  const action = useAction();
  const [renaming, setRenaming] = useState<string | null>(null);
  const [title, setTitle] = useState("");

  const rename = (event: Event, id: string) => {
    event.preventDefault();
    void action.run(async () => {
      await client.sessions.rename(id, title.trim());
      setRenaming(null);
      reload();
    });
  };
  const remove = (id: string) => void action.run(async () => {
    await client.sessions.delete(id);
    if (id === current) {
      rememberSession(null);
      navigate("/chat");
    }
    reload();
  });

  return (
    <aside class="sessions" aria-labelledby="sessions-title">
      <div class="row spread">
        <h2 id="sessions-title">Sessions</h2>
        <button type="button" onClick={() => { rememberSession(null); navigate("/chat"); }}>New chat</button>
      </div>
      <Alert message={error ?? action.error} />
      {!sessions && !error && <Loading what="sessions" />}
      {sessions?.length === 0 && <p class="muted">No sessions yet: send a message to start one.</p>}
      <ul class="session-list">
        {sessions?.map((s) => (
          <li key={s.id} class={s.id === current ? "current" : ""}>
            {renaming === s.id ? (
              <form class="rename" onSubmit={(e) => rename(e, s.id)}>
                <label for={`title-${s.id}`} class="visually-hidden">New title</label>
                <input id={`title-${s.id}`} value={title} required maxLength={200}
                  onInput={(e) => setTitle(e.currentTarget.value)} ref={(el) => el?.focus()} />
                <button type="submit" disabled={action.busy}>Save</button>
                <button type="button" class="secondary" onClick={() => setRenaming(null)}>Cancel</button>
              </form>
            ) : (
              <>
                <Link href={`/chat/${s.id}`} aria-current={s.id === current ? "page" : undefined}>{s.title}</Link>
                <span class="actions">
                  <button type="button" class="link" onClick={() => { setRenaming(s.id); setTitle(s.title); }}
                    aria-label="Rename" title={`Rename “${s.title}”`}>Rename</button>
                  <button type="button" class="link danger" onClick={() => remove(s.id)} disabled={action.busy}
                    aria-label="Delete" title={`Delete “${s.title}”`}>Delete</button>
                </span>
              </>
            )}
          </li>
        ))}
      </ul>
    </aside>
  );
}

function Conversation({ sessionId, models, modelsError, sessionModel, onChanged }: {
  sessionId: string | null; models: CatalogEntry[] | undefined; modelsError: string | null;
  sessionModel: string | null; onChanged(): void;
}) {
  const { client } = useApp();
  const [turns, setTurns] = useState<Turn[]>([]);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [draft, setDraft] = useState("");
  const [modelId, setModelId] = useState<string>("");
  const [options, setOptions] = useState<Record<string, string>>({});
  const stream = useRef<GenerationStream | null>(null);
  const createdHere = useRef<string | null>(null);
  const [streaming, setStreaming] = useState(false);
  const end = useRef<HTMLDivElement>(null);

  // The session's messages (and, for replies that are images or meshes, their generations' outputs).
  useEffect(() => {
    if (sessionId === null) {
      if (!stream.current) setTurns([]);
      return;
    }
    if (sessionId === createdHere.current) { // just created by this view, which is writing it
      createdHere.current = null;
      return;
    }
    const controller = new AbortController();
    setLoading(true);
    setError(null);
    loadTurns(client, sessionId, controller.signal).then(
      (loaded) => { setTurns(loaded); setLoading(false); },
      (e: unknown) => { if (!controller.signal.aborted) { setError(errorMessage(e)); setLoading(false); } },
    );
    return () => controller.abort();
  }, [sessionId, client]);

  // The model: the session's, else the last one used, else the first text model.
  const available = (models ?? []).filter((m) => m.status === "available");
  useEffect(() => {
    if (!available.length) return;
    const wanted = [modelId, sessionModel, lastModel()].find((id) => id && available.some((m) => m.id === id));
    setModelId(wanted ?? (available.find((m) => m.modality === "text") ?? available[0]!).id);
  }, [models, sessionModel]);
  const model = available.find((m) => m.id === modelId);

  useEffect(() => end.current?.scrollIntoView?.({ block: "end" }), [turns]);

  const update = (key: string, change: (turn: Turn) => Turn) =>
    setTurns((all) => all.map((t) => (t.key === key ? change(t) : t)));

  const send = async (event?: Event) => {
    event?.preventDefault();
    const prompt = draft.trim();
    if (!prompt || !model || streaming) return;
    setError(null);
    setStreaming(true);
    const reply: Turn = { key: turnKey(), role: "assistant", text: "", status: "streaming", prompt };
    let id = sessionId;
    let added = false;
    try {
      if (id === null) {
        const created = await client.sessions.create({ title: prompt.slice(0, 60), model: model.id });
        id = created.id;
        createdHere.current = id;
        navigate(`/chat/${id}`);
        onChanged();
      }
      setDraft("");
      rememberModel(model.id);
      setTurns((all) => [...all, { key: turnKey(), role: "user", text: prompt, status: "done" }, reply]);
      added = true;
      const current = client.sessions.stream(id, { modality: model.modality as Modality, model: model.id,
        input: { prompt }, parameters: parametersOf(model.modality as Modality, options) } as never);
      stream.current = current;
      for await (const e of current) {
        if (e.type === "token") update(reply.key, (t) => ({ ...t, text: t.text + e.text }));
        else if (e.type === "progress") update(reply.key, (t) => ({ ...t, progress: { step: e.step, total: e.total } }));
        else if (e.type === "done") {
          update(reply.key, (t) => ({ ...t, status: "done", text: e.response.output.text ?? t.text,
            output: e.response.modality === "text" ? undefined : e.response.output, progress: undefined }));
        } else {
          update(reply.key, (t) => ({ ...t, status: e.error.code === "cancelled" ? "stopped" : "failed",
            error: e.error.message, progress: undefined }));
        }
      }
    } catch (failure) {
      if (failure instanceof APIUserAbortError) update(reply.key, (t) => ({ ...t, status: "stopped", progress: undefined }));
      else if (added) update(reply.key, (t) => ({ ...t, status: "failed", error: errorMessage(failure) }));
      else setError(errorMessage(failure));
    } finally {
      stream.current = null;
      setStreaming(false);
      onChanged();
    }
  };

  const stop = () => void stream.current?.cancel().catch((e: unknown) => setError(errorMessage(e)));

  return (
    <section class="conversation" aria-label="Conversation">
      <div class="row spread toolbar">
        {models ? <ModelPicker models={models} value={modelId} onChange={setModelId} />
          : modelsError ? null : <Loading what="models" />}
        {sessionId && <Link href={`/history/${sessionId}`}>History of this session</Link>}
      </div>
      <Alert message={modelsError ?? error} />
      {loading && <Loading what="the conversation" />}
      <ol class="messages" role="log" aria-label="Messages" aria-busy={streaming}>
        {turns.length === 0 && !loading && <li class="muted empty">Ask anything: pick a model and write below.</li>}
        {turns.map((turn) => <TurnView key={turn.key} turn={turn} />)}
      </ol>
      <div ref={end} />
      <form class="composer" onSubmit={send}>
        <label for="message" class="visually-hidden">Message</label>
        <textarea id="message" rows={3} value={draft} placeholder={model ? `Message ${model.name}` : "Message"}
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={(e) => { if (e.key === "Enter" && !e.shiftKey && !e.isComposing) void send(e); }} />
        {model && (
          <details class="options">
            <summary>Options</summary>
            {OPTIONS[model.modality as Modality].map((option) => {
              const key = `${model.modality}.${option.name}`;
              return (
                <div class="field" key={key}>
                  <label for={`option-${option.name}`}>{option.label}</label>
                  <input id={`option-${option.name}`} type="number" inputMode="decimal" min={option.min} max={option.max}
                    step={option.step ?? 1} value={options[key] ?? ""} placeholder="default"
                    onInput={(e) => { const value = e.currentTarget.value; setOptions((all) => ({ ...all, [key]: value })); }} />
                </div>
              );
            })}
          </details>
        )}
        <div class="composer-actions">
          {streaming && <button type="button" class="danger" onClick={stop}>Stop</button>}
          <button type="submit" disabled={streaming || !draft.trim() || !model}>Send</button>
        </div>
      </form>
    </section>
  );
}

function TurnView({ turn }: { turn: Turn }) {
  return (
    <li class={`turn ${turn.role} ${turn.status}`}>
      <span class="who">{turn.role === "user" ? "You" : "Assistant"}</span>
      {turn.role === "user" ? <p class="plain">{turn.text}</p> : turn.text && <Markdown text={turn.text} />}
      {turn.progress && (
        <progress max={turn.progress.total || 1} value={turn.progress.step} aria-label="Generating">
          {turn.progress.step}/{turn.progress.total}
        </progress>
      )}
      {turn.output && <Output output={turn.output} prompt={turn.prompt ?? ""} />}
      {turn.status === "streaming" && !turn.text && !turn.progress && <p class="muted" role="status">Thinking…</p>}
      {turn.status === "stopped" && <p class="muted" role="status">Stopped.</p>}
      {turn.status === "failed" && <p class="alert" role="alert">{turn.error ?? "The generation failed."}</p>}
    </li>
  );
}

/** A stored session as turns: its messages, and the outputs of replies that are not text. */
async function loadTurns(client: PluggablyClient, sessionId: string, signal: AbortSignal): Promise<Turn[]> {
  const session = await client.sessions.get(sessionId, { signal });
  const turns: Turn[] = [];
  const messages = session.messages;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role === "system") continue;
    turns.push({ key: turnKey(), role: m.role, text: m.content, status: "done" });
    const answered = messages[i + 1]?.role === "assistant" && messages[i + 1]?.generation_id === m.generation_id;
    if (m.role === "user" && m.generation_id && !answered) {
      const generation = await client.generations.get(m.generation_id, { signal });
      const turn: Turn = { key: turnKey(), role: "assistant", text: "", status: "done", prompt: m.content };
      if (generation.status === "completed" && generation.output) turn.output = generation.output;
      else if (generation.status === "cancelled") turn.status = "stopped";
      else if (generation.status === "failed") {
        turn.status = "failed";
        turn.error = generation.error?.message;
      } else turn.text = "(still generating: reload to see the reply)";
      turns.push(turn);
    }
  }
  return turns;
}
