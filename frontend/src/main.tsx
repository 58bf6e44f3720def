import "./styles.css";

import { render } from "preact";
import { useCallback, useEffect, useMemo, useState } from "preact/hooks";

import { AppContext, newClient, useApp, type AppState } from "./context";
import { Admin } from "./pages/Admin";
import { Chat } from "./pages/Chat";
import { History } from "./pages/History";
import { Keys } from "./pages/Keys";
import { Models } from "./pages/Models";
import { Profile } from "./pages/Profile";
import { SettingsPage } from "./pages/Settings";
import { SignIn } from "./pages/SignIn";
import { Usage } from "./pages/Usage";
import { Link, match, navigate, usePath } from "./router";
import { apiBase, applyTheme, loadAuth, loadSettings, saveAuth, saveSettings, type Auth, type Settings } from "./settings";

const PAGES = [
  { path: "/chat", label: "Chat" },
  { path: "/history", label: "History" },
  { path: "/models", label: "Models" },
  { path: "/keys", label: "Keys" },
  { path: "/profile", label: "Profile" },
  { path: "/usage", label: "Usage" },
  { path: "/admin", label: "Admin", admin: true },
  { path: "/settings", label: "Settings" },
];

function App() {
  const [settings, setSettings] = useState<Settings>(loadSettings);
  const [auth, setAuth] = useState<Auth | null>(loadAuth);
  const [notice, setNotice] = useState<string | null>(null);
  const path = usePath();
  const client = useMemo(() => newClient(apiBase(settings), auth?.apiKey ?? null), [settings.apiUrl, auth?.apiKey]);

  useEffect(() => applyTheme(settings.theme), [settings.theme]);

  const signIn = useCallback((next: Auth) => {
    saveAuth(next);
    setAuth(next);
    setNotice(null);
  }, []);
  const signOut = useCallback((why?: string) => {
    saveAuth(null);
    setAuth(null);
    setNotice(why ?? null);
  }, []);
  const state: AppState = {
    client, settings, auth, notice, signIn, signOut,
    saveSettings: (next) => {
      saveSettings(next);
      setSettings(next);
    },
  };

  const title = PAGES.find((p) => path === p.path || path.startsWith(p.path + "/"))?.label;
  useEffect(() => {
    document.title = title ? `${title} · PlugAI` : "PlugAI";
  }, [title]);

  // Signed out: only Sign in and Settings. Signed in: everything but Sign in.
  const publicPage = path === "/signin" || path === "/settings";
  useEffect(() => {
    if (!auth && !publicPage) navigate("/signin", { replace: true });
    else if (auth && (path === "/" || path === "/signin")) navigate("/chat", { replace: true });
  }, [auth, path]);

  return (
    <AppContext.Provider value={state}>
      <a class="skip" href="#main">Skip to content</a>
      <header class="topbar">
        <Link href={auth ? "/chat" : "/signin"} class="brand">PlugAI</Link>
        <nav aria-label="Main">
          <ul>
            {(auth ? PAGES.filter((p) => !p.admin || auth.isAdmin) : PAGES.filter((p) => p.path === "/settings"))
              .map((p) => (
                <li key={p.path}>
                  <Link href={p.path} aria-current={path === p.path || path.startsWith(p.path + "/") ? "page" : undefined}>
                    {p.label}
                  </Link>
                </li>
              ))}
            {!auth && <li><Link href="/signin" aria-current={path === "/signin" ? "page" : undefined}>Sign in</Link></li>}
          </ul>
        </nav>
        {auth && <SignOut />}
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} signedIn={auth !== null} />
      </main>
    </AppContext.Provider>
  );
}

function SignOut() {
  const app = useApp();
  const [busy, setBusy] = useState(false);
  const out = async () => {
    setBusy(true);
    try {
      if (app.auth?.expiresAt) await app.client.auth.logout(); // a password sign-in's key: revoke it
    } catch {
      // signed out here anyway; the key expires by itself
    } finally {
      setBusy(false);
      app.signOut("You are signed out.");
    }
  };
  return (
    <div class="who">
      <span>{app.auth?.username}{app.auth?.isAdmin ? " (admin)" : ""}</span>
      <button type="button" class="secondary" onClick={out} disabled={busy}>Sign out</button>
    </div>
  );
}

function Page({ path, signedIn }: { path: string; signedIn: boolean }) {
  if (path === "/settings") return <SettingsPage />;
  if (!signedIn) return <SignIn />;
  let params: Record<string, string> | null;
  if (path === "/chat") return <Chat sessionId={null} />;
  if ((params = match("/chat/:id", path))) return <Chat sessionId={params.id!} />;
  if (path === "/history") return <History sessionId={null} />;
  if ((params = match("/history/:id", path))) return <History sessionId={params.id!} />;
  if (path === "/models") return <Models />;
  if (path === "/keys") return <Keys />;
  if (path === "/profile") return <Profile />;
  if (path === "/usage") return <Usage />;
  if (path === "/admin") return <Admin />;
  if (path === "/" || path === "/signin") return <p class="muted">Opening…</p>;
  return (
    <section>
      <h1>Not found</h1>
      <p>There is no page at {path}. <Link href="/chat">Go to Chat</Link>.</p>
    </section>
  );
}

render(<App />, document.getElementById("app")!);
