/** The gateway's URL and the theme, kept in this browser. */

import { useState } from "preact/hooks";

import { Alert } from "../components/Alert";
import { useApp } from "../context";
import type { Theme } from "../settings";

export function SettingsPage() {
  const app = useApp();
  const [apiUrl, setApiUrl] = useState(app.settings.apiUrl || location.origin);
  const [theme, setTheme] = useState<Theme>(app.settings.theme);
  const [saved, setSaved] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const save = (event: Event) => {
    event.preventDefault();
    setSaved(null);
    const url = apiUrl.trim().replace(/\/+$/, "");
    if (!/^https?:\/\/[^/\s]+/.test(url)) {
      setError("The API URL must be an http:// or https:// address, e.g. http://localhost:8080.");
      return;
    }
    setError(null);
    app.saveSettings({ apiUrl: url === location.origin ? "" : url, theme });
    setSaved("Settings saved.");
  };

  return (
    <section class="card narrow">
      <h1>Settings</h1>
      <form onSubmit={save} noValidate>
        <label for="api-url">API URL</label>
        <input id="api-url" type="url" inputMode="url" value={apiUrl} onInput={(e) => setApiUrl(e.currentTarget.value)}
          aria-describedby="api-url-help" />
        <p id="api-url-help" class="muted small">
          The gateway this app talks to; by default the one that served it. Another origin must be listed in its
          <code> LLM_API_CORS_ORIGINS</code>.
        </p>
        <fieldset>
          <legend>Theme</legend>
          {(["light", "dark", "system"] as const).map((value) => (
            <label class="inline" key={value}>
              <input type="radio" name="theme" value={value} checked={theme === value}
                onChange={() => { setTheme(value); app.saveSettings({ ...app.settings, theme: value }); }} />
              {value === "system" ? "Same as the system" : value[0]!.toUpperCase() + value.slice(1)}
            </label>
          ))}
        </fieldset>
        <button type="submit">Save</button>
      </form>
      <Alert message={error} />
      <Alert message={saved} kind="info" />
    </section>
  );
}
