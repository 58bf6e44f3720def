/** Profile: who you are, which providers you can use and who configured each (you or the server), and your own
 * provider keys (set, replace, remove; only their last four characters are ever shown). */

import type { CredentialInfo, Provider, ProviderName } from "@pluggably/client";
import { useState } from "preact/hooks";

import { Alert, Loading } from "../components/Alert";
import { useAction, useApp, useResource } from "../context";
import { providerName, when } from "../format";

export function Profile() {
  const { client, auth } = useApp();
  const providers = useResource((signal) => client.providers.list({ signal }), [client]);
  const credentials = useResource((signal) => client.credentials.list({ signal }), [client]);
  const reload = () => {
    providers.reload();
    credentials.reload();
  };
  const commercial = (providers.data ?? []).filter((p) => p.name !== "local");
  const local = providers.data?.find((p) => p.name === "local");

  return (
    <section>
      <h1>Profile</h1>
      <p>Signed in as <strong>{auth?.username}</strong>{auth?.isAdmin ? ", an admin" : ""}
        {auth?.expiresAt ? ` until ${when(auth.expiresAt)}` : " with an API key"}.</p>
      <Alert message={providers.error ?? credentials.error} />
      {(providers.loading && !providers.data) && <Loading what="your providers" />}
      <h2>Providers</h2>
      <p class="muted">Your own key is used for your requests before the server's. Keys are stored encrypted and never
        shown again: only their last four characters.</p>
      <ul class="providers">
        {commercial.map((p) => (
          <ProviderCard key={p.name} provider={p} credential={credentials.data?.find((c) => c.provider === p.name)}
            onChanged={reload} />
        ))}
      </ul>
      {local && (
        <p>Local models: {local.configured ? `available (${local.supported_modalities.join(", ")})` : "none yet"}.</p>
      )}
    </section>
  );
}

function source(provider: Provider, credential: CredentialInfo | undefined): string {
  if (credential) return `Configured by you (key ending …${credential.last4})`;
  if (provider.source === "server") return "Configured by the server";
  return "Not configured";
}

function ProviderCard({ provider, credential, onChanged }: {
  provider: Provider; credential: CredentialInfo | undefined; onChanged(): void;
}) {
  const { client } = useApp();
  const action = useAction();
  const [apiKey, setApiKey] = useState("");
  const [endpoint, setEndpoint] = useState(credential?.endpoint ?? "");
  const [saved, setSaved] = useState<string | null>(null);
  const name = providerName(provider.name);
  const id = `credential-${provider.name}`;

  const save = (event: Event) => {
    event.preventDefault();
    void action.run(async () => {
      const result = await client.credentials.set(provider.name as ProviderName, {
        api_key: apiKey.trim(), ...(provider.name === "azure" && endpoint.trim() ? { endpoint: endpoint.trim() } : {}),
      });
      setApiKey("");
      setSaved(`Saved: the key ending …${result.last4}.`);
      onChanged();
    });
  };
  const remove = () => void action.run(async () => {
    await client.credentials.remove(provider.name as ProviderName);
    setSaved("Removed.");
    onChanged();
  });

  return (
    <li class="card provider" aria-labelledby={`${id}-title`}>
      <div class="row spread">
        <h3 id={`${id}-title`}>{name}</h3>
        <span class={provider.configured ? "ok" : "muted"}>{source(provider, credential)}</span>
      </div>
      <p class="muted small">{provider.supported_modalities.join(", ")}</p>
      <form class="row wrap" onSubmit={save}>
        <div class="field grow">
          <label for={id}>{name} API key</label>
          <input id={id} type="password" autoComplete="off" value={apiKey} required
            placeholder={credential ? `…${credential.last4}` : ""} onInput={(e) => setApiKey(e.currentTarget.value)} />
        </div>
        {provider.name === "azure" && (
          <div class="field grow">
            <label for={`${id}-endpoint`}>Azure endpoint</label>
            <input id={`${id}-endpoint`} type="url" value={endpoint} placeholder="https://my-resource.openai.azure.com"
              onInput={(e) => setEndpoint(e.currentTarget.value)} />
          </div>
        )}
        <button type="submit" disabled={action.busy}>{credential ? "Replace" : "Save"}</button>
        {credential && <button type="button" class="secondary" onClick={remove} disabled={action.busy}>Remove</button>}
      </form>
      <Alert message={action.error} />
      <Alert message={saved} kind="info" />
    </li>
  );
}
