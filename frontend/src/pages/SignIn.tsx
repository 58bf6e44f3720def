/** Sign in with a username and password (an expiring key of its own), or with a pasted API key. */

import { useState } from "preact/hooks";

import { Alert } from "../components/Alert";
import { newClient, useAction, useApp } from "../context";
import { Link } from "../router";
import { apiBase } from "../settings";

type Mode = "password" | "key";

export function SignIn() {
  const app = useApp();
  const [mode, setMode] = useState<Mode>("password");
  const action = useAction();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [apiKey, setApiKey] = useState("");

  const withPassword = (event: Event) => {
    event.preventDefault();
    void action.run(async () => {
      const client = newClient(apiBase(app.settings), null);
      const session = await client.auth.login(username.trim(), password);
      setPassword("");
      app.signIn({ apiKey: session.api_key, userId: session.user.id, username: session.user.username,
        isAdmin: session.user.is_admin, expiresAt: session.expires_at });
    });
  };

  const withKey = (event: Event) => {
    event.preventDefault();
    void action.run(async () => {
      const key = apiKey.trim();
      const me = await newClient(apiBase(app.settings), key).me();
      setApiKey("");
      app.signIn({ apiKey: key, userId: me.user_id, username: me.username, isAdmin: me.is_admin, expiresAt: null });
    });
  };

  const tab = (which: Mode, label: string) => (
    <button type="button" role="tab" id={`tab-${which}`} aria-selected={mode === which}
      aria-controls={`panel-${which}`} tabIndex={mode === which ? 0 : -1} class="tab"
      onClick={() => { setMode(which); action.setError(null); }}
      onKeyDown={(e) => {
        if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
          const next = which === "password" ? "key" : "password";
          setMode(next);
          document.getElementById(`tab-${next}`)?.focus();
        }
      }}>
      {label}
    </button>
  );

  return (
    <section class="signin card">
      <h1>Sign in to PlugAI</h1>
      <Alert message={app.notice} kind="info" />
      <div role="tablist" aria-label="How to sign in">
        {tab("password", "Password")}
        {tab("key", "API key")}
      </div>
      {mode === "password" ? (
        <form id="panel-password" role="tabpanel" aria-labelledby="tab-password" onSubmit={withPassword}>
          <label for="username">Username</label>
          <input id="username" name="username" autoComplete="username" required value={username}
            onInput={(e) => setUsername(e.currentTarget.value)} />
          <label for="password">Password</label>
          <input id="password" name="password" type="password" autoComplete="current-password" required
            value={password} onInput={(e) => setPassword(e.currentTarget.value)} />
          <button type="submit" disabled={action.busy}>Sign in</button>
        </form>
      ) : (
        <form id="panel-key" role="tabpanel" aria-labelledby="tab-key" onSubmit={withKey}>
          <label for="api-key">API key</label>
          <input id="api-key" name="api-key" autoComplete="off" spellcheck={false} required value={apiKey}
            onInput={(e) => setApiKey(e.currentTarget.value)} placeholder="pk-…" />
          <button type="submit" disabled={action.busy}>Sign in</button>
        </form>
      )}
      <Alert message={action.error} />
      <p class="muted small">
        Gateway: <code>{apiBase(app.settings)}</code> (<Link href="/settings">change</Link>). An admin creates
        accounts (<code>pluggably users create</code>).
      </p>
    </section>
  );
}
