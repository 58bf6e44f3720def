/** Usage: per day and model, requests, tokens and cost, as a chart and a table, for a date range. */

import { useState } from "preact/hooks";

import { Alert, Loading } from "../components/Alert";
import { UsageChart } from "../components/UsageChart";
import { useApp, useResource } from "../context";
import { count, providerName, usd, utcDay } from "../format";

const DAY = 86_400_000;

export function Usage() {
  const { client } = useApp();
  const [from, setFrom] = useState(utcDay(new Date(Date.now() - 29 * DAY)));
  const [to, setTo] = useState(utcDay(new Date()));
  const usage = useResource((signal) => client.usage.get({ from, to }, { signal }), [client, from, to]);
  const rows = usage.data?.usage ?? [];
  const totals = usage.data?.totals;

  return (
    <section>
      <h1>Usage</h1>
      <form class="row wrap" onSubmit={(e) => { e.preventDefault(); usage.reload(); }}>
        <div class="field">
          <label for="usage-from">From</label>
          <input id="usage-from" type="date" value={from} max={to} required onChange={(e) => setFrom(e.currentTarget.value)} />
        </div>
        <div class="field">
          <label for="usage-to">To</label>
          <input id="usage-to" type="date" value={to} min={from} required onChange={(e) => setTo(e.currentTarget.value)} />
        </div>
        <button type="submit" class="secondary" disabled={usage.loading}>Refresh</button>
      </form>
      <p class="muted small">Days are UTC. Usage is counted from the stored events a moment after each request.</p>
      <Alert message={usage.error} />
      {usage.loading && !usage.data && <Loading what="your usage" />}
      {usage.data && (
        <>
          {totals && (
            <p class="totals" aria-label="Totals">
              <span><strong>{count(totals.requests)}</strong> requests</span>
              <span><strong>{count(totals.total_tokens)}</strong> tokens</span>
              <span><strong>{usd(totals.cost_usd)}</strong> cost</span>
              {totals.errors > 0 && <span><strong>{count(totals.errors)}</strong> errors</span>}
            </p>
          )}
          <UsageChart rows={rows} from={from} to={to} />
          <div class="table-wrap">
            <table aria-label="Usage by day and model">
              <thead><tr><th scope="col">Day</th><th scope="col">Model</th><th scope="col">Requests</th>
                <th scope="col">Input tokens</th><th scope="col">Output tokens</th><th scope="col">Images / meshes</th>
                <th scope="col">Cost</th></tr></thead>
              <tbody>
                {rows.length === 0 && <tr><td colSpan={7} class="muted">No usage in this range.</td></tr>}
                {rows.map((r) => (
                  <tr key={`${r.date}-${r.provider}-${r.model}`}>
                    <td>{r.date}</td>
                    <th scope="row">{r.model} <span class="muted small">{providerName(r.provider)}</span></th>
                    <td>{count(r.requests)}</td>
                    <td>{count(r.input_tokens)}</td>
                    <td>{count(r.output_tokens)}</td>
                    <td>{count(r.images)} / {count(r.meshes)}</td>
                    <td>{usd(r.cost_usd)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </section>
  );
}
