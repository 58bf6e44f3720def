/** Dates, sizes and numbers for people. */

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  const units = ["B", "KB", "MB", "GB", "TB"];
  let value = n;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${value < 10 && unit > 0 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

export const count = (n: number): string => n.toLocaleString();
export const usd = (n: number): string => `$${n.toFixed(n > 0 && n < 0.01 ? 6 : 2)}`;

/** `YYYY-MM-DD` of a date, in UTC (the usage meter counts UTC days). */
export const utcDay = (date: Date): string => date.toISOString().slice(0, 10);

export const PROVIDER_NAMES: Record<string, string> = {
  openai: "OpenAI", anthropic: "Anthropic", google: "Google", azure: "Azure OpenAI", xai: "xAI", local: "Local",
};

export const providerName = (name: string): string => PROVIDER_NAMES[name] ?? name;
