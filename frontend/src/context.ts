/** The app's shared state: the SDK client for the configured gateway and key, settings, who is signed in. */

import { AuthenticationError, PluggablyClient } from "@pluggably/client";
import { createContext } from "preact";
import { useCallback, useContext, useEffect, useRef, useState } from "preact/hooks";

import { errorMessage, isAbort } from "./errors";
import type { Auth, Settings } from "./settings";

export interface AppState {
  client: PluggablyClient;
  settings: Settings;
  saveSettings(settings: Settings): void;
  auth: Auth | null;
  signIn(auth: Auth): void;
  /** Forget the key (after signing out, or when the gateway refused it); `notice` says why on the sign-in page. */
  signOut(notice?: string): void;
  notice: string | null;
}

export const AppContext = createContext<AppState | null>(null);

export function useApp(): AppState {
  const app = useContext(AppContext);
  if (!app) throw new Error("useApp outside the app");
  return app;
}

export function newClient(baseUrl: string, apiKey: string | null): PluggablyClient {
  return new PluggablyClient({ baseUrl, apiKey, timeoutMs: 120_000 });
}

export interface Resource<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  reload(): void;
  setData(update: (current: T | undefined) => T | undefined): void;
}

/**
 * Data from the gateway for a view: loaded when `deps` change, its error as a sentence, cancelled (through the
 * call's AbortSignal) when the view goes away. A refused key signs the user out.
 */
export function useResource<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Resource<T> {
  const { signOut } = useApp();
  const [state, setState] = useState<{ data: T | undefined; error: string | null; loading: boolean }>(
    { data: undefined, error: null, loading: true });
  const [generation, setGeneration] = useState(0);
  const loader = useRef(load);
  loader.current = load;
  useEffect(() => {
    const controller = new AbortController();
    setState((s) => ({ ...s, loading: true }));
    loader.current(controller.signal).then(
      (data) => !controller.signal.aborted && setState({ data, error: null, loading: false }),
      (error: unknown) => {
        if (controller.signal.aborted || isAbort(error)) return;
        if (error instanceof AuthenticationError) signOut("Your session has ended: sign in again.");
        setState((s) => ({ ...s, error: errorMessage(error), loading: false }));
      },
    );
    return () => controller.abort();
  }, [...deps, generation]);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  const setData = useCallback((update: (current: T | undefined) => T | undefined) =>
    setState((s) => ({ ...s, data: update(s.data) })), []);
  return { ...state, reload, setData };
}

/** An action (a button's work): `run()` shows its error as a sentence and tells whether it succeeded. */
export function useAction(): { busy: boolean; error: string | null; setError(e: string | null): void;
  run<T>(work: () => Promise<T>): Promise<T | undefined> } {
  const { signOut } = useApp();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const run = useCallback(async <T,>(work: () => Promise<T>) => {
    setBusy(true);
    setError(null);
    try {
      return await work();
    } catch (failure) {
      if (failure instanceof AuthenticationError && failure.code !== "invalid_credentials") {
        signOut("Your session has ended: sign in again.");
      }
      setError(errorMessage(failure));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, [signOut]);
  return { busy, error, setError, run };
}
