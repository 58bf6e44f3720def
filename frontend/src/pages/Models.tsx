/**
 * Models: the catalogue by modality; Hugging Face search with paging; for admins, downloads with a live progress
 * bar (from the job's event stream), Cancel, and Delete for downloaded models.
 */

import type { CatalogEntry, HubModel, Job, Modality } from "@pluggably/client";
import { useEffect, useRef, useState } from "preact/hooks";

import { Alert, Loading } from "../components/Alert";
import { useAction, useApp, useResource } from "../context";
import { errorMessage, isAbort } from "../errors";
import { bytes, count, providerName, when } from "../format";

const MODALITIES: { id: Modality; label: string }[] = [
  { id: "text", label: "Text" }, { id: "image", label: "Image" }, { id: "3d", label: "3D" },
];

export function Models() {
  const { client, auth } = useApp();
  const catalogue = useResource((signal) => client.models.list({}, { signal }), [client]);
  const jobs = useResource((signal) => client.jobs.list({ signal }), [client]);
  const [started, setStarted] = useState<Job[]>([]);
  const active = [...started, ...(jobs.data ?? []).filter((j) => ["queued", "running"].includes(j.status)
    && !started.some((s) => s.job_id === j.job_id))];

  return (
    <section>
      <h1>Models</h1>
      <Alert message={catalogue.error} />
      {catalogue.loading && !catalogue.data && <Loading what="the catalogue" />}
      {catalogue.data && <Catalogue models={catalogue.data} isAdmin={!!auth?.isAdmin} reload={catalogue.reload} />}
      {active.length > 0 && (
        <section aria-labelledby="downloads-title">
          <h2 id="downloads-title">Downloads</h2>
          <ul class="downloads">
            {active.map((job) => (
              <Download key={job.job_id} job={job} onEnd={() => { catalogue.reload(); jobs.reload(); }} />
            ))}
          </ul>
        </section>
      )}
      <Search isAdmin={!!auth?.isAdmin} onStarted={(job) => setStarted((all) => [job, ...all])} />
    </section>
  );
}

function Catalogue({ models, isAdmin, reload }: { models: CatalogEntry[]; isAdmin: boolean; reload(): void }) {
  const { client } = useApp();
  const action = useAction();
  const remove = (id: string) => void action.run(async () => {
    await client.models.delete(id);
    reload();
  });
  return (
    <>
      <Alert message={action.error} />
      {MODALITIES.map(({ id, label }) => {
        const rows = models.filter((m) => m.modality === id);
        return (
          <section key={id} aria-labelledby={`catalogue-${id}`}>
            <h2 id={`catalogue-${id}`}>{label}</h2>
            {rows.length === 0 ? <p class="muted">No {label.toLowerCase()} model yet.</p> : (
              <div class="table-wrap">
                <table>
                  <thead><tr><th scope="col">Model</th><th scope="col">Provider</th><th scope="col">Size</th>
                    <th scope="col">Status</th>{isAdmin && <th scope="col"><span class="visually-hidden">Actions</span></th>}</tr></thead>
                  <tbody>
                    {rows.map((m) => (
                      <tr key={m.id}>
                        <th scope="row"><code>{m.id}</code>{m.name !== m.id && m.local ? <span class="muted"> {m.name}</span> : null}</th>
                        <td>{m.local ? `Local (${m.runtime ?? "…"})` : providerName(m.runtime ?? "")}</td>
                        <td>{m.local ? bytes(m.size_bytes) : "—"}</td>
                        <td>{m.status === "downloading" ? "Downloading" : "Available"}</td>
                        {isAdmin && (
                          <td>{m.local && m.status === "available" && (
                            <button type="button" class="link danger" onClick={() => remove(m.id)} disabled={action.busy}>
                              Delete
                            </button>
                          )}</td>
                        )}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
          </section>
        );
      })}
    </>
  );
}

function Search({ isAdmin, onStarted }: { isAdmin: boolean; onStarted(job: Job): void }) {
  const { client } = useApp();
  const [query, setQuery] = useState("");
  const [modality, setModality] = useState<Modality | "">("");
  const [pages, setPages] = useState<(string | null)[]>([]); // the cursors of the pages shown so far
  const [page, setPage] = useState<{ results: HubModel[]; next_cursor: string | null } | null>(null);
  const search = useAction();
  const download = useAction();

  const load = (cursor: string | null, trail: (string | null)[]) => void search.run(async () => {
    const found = await client.models.search({ query: query.trim(), cursor, limit: 10,
      ...(modality ? { modality } : {}) });
    setPage(found);
    setPages(trail);
  });

  const start = (model: HubModel) => void download.run(async () => {
    const name = model.id.split("/").pop()!.toLowerCase().replace(/[^a-z0-9._-]+/g, "-").replace(/^[^a-z0-9]+/, "");
    const job = await client.models.download({
      model: { id: name || "model", name: model.id, modality: model.modality_hints[0] ?? "text" },
      source: { type: "huggingface", id: model.id },
    });
    onStarted(job);
  });

  return (
    <section aria-labelledby="search-title">
      <h2 id="search-title">Hugging Face</h2>
      <form class="row wrap" role="search" onSubmit={(e) => { e.preventDefault(); load(null, [null]); }}>
        <div class="field grow">
          <label for="search">Search models</label>
          <input id="search" type="text" enterKeyHint="search" value={query} onInput={(e) => setQuery(e.currentTarget.value)}
            placeholder="llama, stable diffusion…" />
        </div>
        <div class="field">
          <label for="search-modality">Modality</label>
          <select id="search-modality" value={modality} onChange={(e) => setModality(e.currentTarget.value as Modality | "")}>
            <option value="">Any</option>
            {MODALITIES.map((m) => <option key={m.id} value={m.id}>{m.label}</option>)}
          </select>
        </div>
        <button type="submit" disabled={search.busy}>Search</button>
      </form>
      <Alert message={search.error ?? download.error} />
      {page && (page.results.length === 0 ? <p class="muted">No model matches.</p> : (
        <div class="table-wrap">
          <table aria-label="Search results">
            <thead><tr><th scope="col">Repository</th><th scope="col">Kind</th><th scope="col">Downloads</th>
              <th scope="col">Updated</th>{isAdmin && <th scope="col"><span class="visually-hidden">Actions</span></th>}</tr></thead>
            <tbody>
              {page.results.map((m) => (
                <tr key={m.id}>
                  <th scope="row">{m.id}</th>
                  <td>{m.modality_hints.join(", ") || "—"}</td>
                  <td>{count(m.downloads)}</td>
                  <td>{when(m.last_modified)}</td>
                  {isAdmin && <td><button type="button" onClick={() => start(m)} disabled={download.busy}>Download</button></td>}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ))}
      {page && (
        <div class="row">
          <button type="button" class="secondary" disabled={pages.length <= 1 || search.busy}
            onClick={() => load(pages[pages.length - 2] ?? null, pages.slice(0, -1))}>Previous page</button>
          <span class="muted">Page {pages.length}</span>
          <button type="button" class="secondary" disabled={!page.next_cursor || search.busy}
            onClick={() => load(page.next_cursor, [...pages, page.next_cursor])}>Next page</button>
        </div>
      )}
      {!isAdmin && <p class="muted small">Downloading models needs an admin.</p>}
    </section>
  );
}

/** One download: its progress bar follows the job's event stream; Cancel stops it. */
function Download({ job: initial, onEnd }: { job: Job; onEnd(): void }) {
  const { client } = useApp();
  const [job, setJob] = useState(initial);
  const [outcome, setOutcome] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const ended = useRef(onEnd);
  ended.current = onEnd;
  useEffect(() => {
    const controller = new AbortController();
    (async () => {
      for await (const event of client.jobs.events(initial.job_id, { signal: controller.signal })) {
        if (event.type === "progress") setJob(event.job);
        else if (event.type === "done") {
          setJob(event.job);
          setOutcome("Downloaded.");
        } else setOutcome(event.error.code === "cancelled" ? "Cancelled." : `Failed: ${event.error.message}`);
      }
      ended.current();
    })().catch((e: unknown) => !isAbort(e) && setError(errorMessage(e)));
    return () => controller.abort();
  }, [initial.job_id]);
  const cancel = async () => {
    try {
      setJob(await client.jobs.cancel(job.job_id));
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  const pct = Math.round(job.progress_pct ?? 0);
  const label = `Download of ${job.source.id}`;
  return (
    <li class="download">
      <div class="row spread">
        <strong>{job.source.id}</strong>
        <span class="muted">{outcome ?? `${job.status}${job.current_file ? ` · ${job.current_file}` : ""}`}</span>
      </div>
      <div class="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100}
        aria-valuenow={pct} aria-valuetext={`${pct}%`}>
        <div class="bar" style={{ width: `${pct}%` }} />
      </div>
      <div class="row spread small">
        <span>{pct}% · {bytes(job.bytes_done)} of {bytes(job.bytes_total)}</span>
        {!outcome && <button type="button" class="secondary" onClick={cancel}>Cancel</button>}
      </div>
      <Alert message={error} />
    </li>
  );
}
