/** The caller's API keys: list, create (the secret shown once, with a copy button), revoke. */

import type { NewApiKey } from "@pluggably/client";
import { useState } from "preact/hooks";

import { Alert, Loading } from "../components/Alert";
import { useAction, useApp, useResource } from "../context";
import { when } from "../format";

export function Keys() {
  const { client } = useApp();
  const keys = useResource((signal) => client.keys.list({ signal }), [client]);
  const action = useAction();
  const [name, setName] = useState("");
  const [created, setCreated] = useState<NewApiKey | null>(null);
  const [copied, setCopied] = useState<string | null>(null);

  const create = (event: Event) => {
    event.preventDefault();
    void action.run(async () => {
      setCopied(null);
      setCreated(await client.keys.create(name.trim() || undefined));
      setName("");
      keys.reload();
    });
  };
  const revoke = (keyId: string) => void action.run(async () => {
    await client.keys.revoke(keyId);
    keys.reload();
  });
  const copy = async (secret: string) => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied("Copied to the clipboard.");
    } catch {
      setCopied("Copying is not allowed here: select the key and copy it by hand.");
    }
  };
  const me = useResource((signal) => client.me({ signal }), [client]);
  const current = (keyId: string) => keyId === me.data?.key_id;

  return (
    <section>
      <h1>API keys</h1>
      <form class="row wrap" onSubmit={create}>
        <div class="field grow">
          <label for="key-name">Key name</label>
          <input id="key-name" value={name} maxLength={100} placeholder="e.g. laptop, ci"
            onInput={(e) => setName(e.currentTarget.value)} />
        </div>
        <button type="submit" disabled={action.busy}>Create key</button>
      </form>
      {created && (
        <div class="card secret" role="status">
          <p>Your new key <strong>{created.name}</strong>. It is shown only now: copy it somewhere safe.</p>
          <div class="row">
            <label for="new-key" class="visually-hidden">New API key</label>
            <input id="new-key" class="mono grow" readOnly value={created.api_key} onFocus={(e) => e.currentTarget.select()} />
            <button type="button" onClick={() => copy(created.api_key)}>Copy</button>
            <button type="button" class="secondary" onClick={() => setCreated(null)}>Done</button>
          </div>
          {copied && <p class="muted small">{copied}</p>}
        </div>
      )}
      <Alert message={keys.error ?? action.error} />
      {keys.loading && !keys.data && <Loading what="your keys" />}
      {keys.data && (
        <div class="table-wrap">
          <table aria-label="API keys">
            <thead><tr><th scope="col">Name</th><th scope="col">Created</th><th scope="col">Last used</th>
              <th scope="col">Expires</th><th scope="col">Status</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
              {keys.data.map((key) => (
                <tr key={key.key_id}>
                  <th scope="row">{key.name}{current(key.key_id) ? <span class="muted"> (this browser)</span> : null}</th>
                  <td>{when(key.created_at)}</td>
                  <td><span class="muted" title="The gateway does not record when a key was last used.">Not recorded</span></td>
                  <td>{key.expires_at ? when(key.expires_at) : "Never"}</td>
                  <td>{key.revoked ? "Revoked" : key.expires_at && Date.parse(key.expires_at) < Date.now() ? "Expired" : "Active"}</td>
                  <td>{!key.revoked && (
                    <button type="button" class="link danger" onClick={() => revoke(key.key_id)} disabled={action.busy}>Revoke</button>
                  )}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
