/** Requests per day, one bar colour per model (Chart.js on a canvas; the table beside it has the same numbers,
 * and the canvas's accessible name sums them up). */

import type { UsageRow } from "@pluggably/client";
import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from "chart.js";
import { useEffect, useRef } from "preact/hooks";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const COLOURS = ["#3b5bdb", "#e8590c", "#2f9e44", "#ae3ec9", "#1098ad", "#f08c00", "#c2255c", "#5c940d"];

/** Every day from `from` to `to` (UTC, at most a year of them), plus any day a row has. */
function daysOf(rows: UsageRow[], from: string, to: string): string[] {
  const days = new Set(rows.map((r) => r.date));
  const end = Date.parse(`${to}T00:00:00Z`);
  for (let t = Date.parse(`${from}T00:00:00Z`), n = 0; t <= end && n < 366; t += 86_400_000, n++) {
    days.add(new Date(t).toISOString().slice(0, 10));
  }
  return [...days].sort();
}

export function chartData(rows: UsageRow[], from: string, to: string): {
  days: string[]; models: string[]; requests: number[][];
} {
  const days = daysOf(rows, from, to);
  const models = [...new Set(rows.map((r) => r.model))].sort();
  const requests = models.map((model) => days.map((day) =>
    rows.filter((r) => r.model === model && r.date === day).reduce((sum, r) => sum + r.requests, 0)));
  return { days, models, requests };
}

export function UsageChart({ rows, from, to }: { rows: UsageRow[]; from: string; to: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const { days, models, requests } = chartData(rows, from, to);
  const busy = days.map((day, i) => [day, models.reduce((sum, _, m) => sum + requests[m]![i]!, 0)] as const)
    .filter(([, n]) => n > 0);
  const label = busy.length === 0 ? `Requests per day, ${from} to ${to}: none`
    : `Requests per day, ${from} to ${to}: ` + busy.map(([day, n]) => `${day}: ${n}`).join(", ");
  useEffect(() => {
    if (!canvas.current) return;
    const styles = getComputedStyle(document.documentElement);
    const text = styles.getPropertyValue("--text").trim() || "#222";
    const grid = styles.getPropertyValue("--border").trim() || "#ddd";
    const chart = new Chart(canvas.current, {
      type: "bar",
      data: { labels: days, datasets: models.map((model, i) => ({ label: model, data: requests[i]!,
        backgroundColor: COLOURS[i % COLOURS.length]!, maxBarThickness: 40 })) },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        scales: { x: { stacked: true, ticks: { color: text }, grid: { color: grid } },
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0, color: text }, grid: { color: grid },
            title: { display: true, text: "Requests", color: text } } },
        plugins: { legend: { labels: { color: text } } },
      },
    });
    return () => chart.destroy();
  }, [rows]);
  return (
    <div class="chart">
      <canvas ref={canvas} role="img" aria-label={label} />
    </div>
  );
}
