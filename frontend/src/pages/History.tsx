/** A session's audit trail (`/history`): every stored event of the session and its generations, as a timeline,
 * also as it stood at an earlier time ("as of"). */

import type { HistoryEvent } from "@pluggably/client";
import { useState } from "preact/hooks";

import { Alert, Loading } from "../components/Alert";
import { useResource, useApp } from "../context";
import { when } from "../format";
import { Link, navigate } from "../router";

const LABELS: Record<string, string> = {
  "ChatSession.Started": "Session started",
  "ChatSession.MessageAppended": "Message",
  "ChatSession.Renamed": "Renamed",
  "ChatSession.Deleted": "Deleted",
  "Generation.Requested": "Generation requested",
  "Generation.Started": "Generation started",
  "Generation.Completed": "Generation completed",
  "Generation.Failed": "Generation failed",
  "Generation.Cancelled": "Generation cancelled",
};

/** `datetime-local` value (local time, no zone) ↔ a Date. */
const toLocalInput = (date: Date) => new Date(date.getTime() - date.getTimezoneOffset() * 60_000).toISOString().slice(0, 19);

export function History({ sessionId }: { sessionId: string | null }) {
  const { client } = useApp();
  const sessions = useResource((signal) => client.sessions.list({ signal }), [client]);
  const [asOf, setAsOf] = useState("");
  const history = useResource(async (signal) => {
    if (!sessionId) return null;
    return client.sessions.history(sessionId, { signal, ...(asOf ? { asOf: new Date(asOf) } : {}) });
  }, [client, sessionId, asOf]);

  return (
    <section>
      <h1>History</h1>
      <div class="row wrap">
        <div class="field">
          <label for="history-session">Session</label>
          <select id="history-session" value={sessionId ?? ""} onChange={(e) => navigate(
            e.currentTarget.value ? `/history/${e.currentTarget.value}` : "/history")}>
            <option value="">Choose a session</option>
            {sessions.data?.map((s) => <option key={s.id} value={s.id}>{s.title}</option>)}
          </select>
        </div>
        <div class="field">
          <label for="as-of">As of</label>
          <input id="as-of" type="datetime-local" step={1} value={asOf} max={toLocalInput(new Date())}
            onChange={(e) => setAsOf(e.currentTarget.value)} />
        </div>
        {asOf && <button type="button" class="secondary" onClick={() => setAsOf("")}>Now</button>}
      </div>
      <Alert message={sessions.error ?? history.error} />
      {!sessionId && <p class="muted">Choose a session to see everything that happened in it.</p>}
      {sessionId && history.loading && !history.data && <Loading what="the history" />}
      {history.data && (
        <>
          <p class="muted">
            {history.data.events.length} events{history.data.as_of ? ` up to ${when(history.data.as_of)}` : " so far"}.{" "}
            <Link href={`/chat/${sessionId}`}>Open the chat</Link>
          </p>
          <ol class="timeline" aria-label="Events">
            {history.data.events.map((event) => <EventItem key={`${event.aggregate_id}-${event.version}`} event={event} />)}
          </ol>
        </>
      )}
    </section>
  );
}

function EventItem({ event }: { event: HistoryEvent }) {
  const data = event.data as Record<string, unknown>;
  return (
    <li class="event">
      <time dateTime={event.timestamp}>{when(event.timestamp)}</time>
      <strong>{LABELS[event.type] ?? event.type}</strong>
      <span class="muted small">{event.type}</span>
      <p class="plain">{summary(event.type, data)}</p>
    </li>
  );
}

function summary(type: string, data: Record<string, unknown>): string {
  const text = (value: unknown) => (typeof value === "string" ? value : JSON.stringify(value));
  if (type === "ChatSession.MessageAppended") return `${text(data.role)}: ${text(data.content)}`;
  if (type === "ChatSession.Started" || type === "ChatSession.Renamed") return text(data.title ?? "");
  if (type === "Generation.Requested") {
    const targets = Array.isArray(data.targets) ? data.targets.map((t) => (t as { model?: string }).model).join(", ") : "";
    return `${text(data.modality)} with ${targets}`;
  }
  if (type === "Generation.Completed") {
    const output = (data.output ?? {}) as Record<string, unknown>;
    const usage = (data.usage ?? {}) as Record<string, unknown>;
    const what = typeof output.text === "string" ? output.text : "an image or mesh";
    return `${what}${usage.total_tokens ? ` (${text(usage.total_tokens)} tokens)` : ""}`;
  }
  if (type === "Generation.Failed") return `${text(data.code)}: ${text(data.message)}`;
  return "";
}
