/** What the app keeps in the browser: its settings, who is signed in, the last chat. */

export type Theme = "light" | "dark" | "system";

export interface Settings {
  /** The gateway's URL; empty: this page's own origin. */
  apiUrl: string;
  theme: Theme;
}

export interface Auth {
  apiKey: string;
  userId: string;
  username: string;
  isAdmin: boolean;
  /** Set for a password sign-in (a `web session` key that expires); null for a pasted key. */
  expiresAt: string | null;
}

const SETTINGS = "plugai.settings";
const AUTH = "plugai.auth";
const LAST_SESSION = "plugai.lastSession";
const LAST_MODEL = "plugai.lastModel";

function read<T>(key: string): T | null {
  try {
    const raw = localStorage.getItem(key);
    return raw ? (JSON.parse(raw) as T) : null;
  } catch {
    return null;
  }
}

function write(key: string, value: unknown): void {
  if (value === null || value === undefined) localStorage.removeItem(key);
  else localStorage.setItem(key, JSON.stringify(value));
}

export const loadSettings = (): Settings => ({ apiUrl: "", theme: "system", ...read<Partial<Settings>>(SETTINGS) });
export const saveSettings = (settings: Settings): void => write(SETTINGS, settings);
export const loadAuth = (): Auth | null => read<Auth>(AUTH);
export const saveAuth = (auth: Auth | null): void => write(AUTH, auth);
export const lastSession = (): string | null => read<string>(LAST_SESSION);
export const rememberSession = (id: string | null): void => write(LAST_SESSION, id);
export const lastModel = (): string | null => read<string>(LAST_MODEL);
export const rememberModel = (id: string): void => write(LAST_MODEL, id);

export function apiBase(settings: Settings): string {
  return (settings.apiUrl.trim() || location.origin).replace(/\/+$/, "");
}

export function applyTheme(theme: Theme): void {
  const dark = theme === "dark" || (theme === "system" && matchMedia("(prefers-color-scheme: dark)").matches);
  document.documentElement.dataset.theme = dark ? "dark" : "light";
}
