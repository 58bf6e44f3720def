/** Admin: users (create, disable) and shredding a user's stored secrets, after a confirmation. */

import type { NewUser, UserInfo } from "@pluggably/client";
import { useEffect, useRef, useState } from "preact/hooks";

import { Alert, Loading } from "../components/Alert";
import { useAction, useApp, useResource } from "../context";
import { when } from "../format";

export function Admin() {
  const { client, auth } = useApp();
  const users = useResource((signal) => client.admin.listUsers({ signal }), [client]);
  const action = useAction();
  const [created, setCreated] = useState<NewUser | null>(null);
  const [shredding, setShredding] = useState<UserInfo | null>(null);
  const [done, setDone] = useState<string | null>(null);

  if (!auth?.isAdmin) {
    return <section><h1>Admin</h1><p>This page is for admins.</p></section>;
  }
  const disable = (user: UserInfo) => void action.run(async () => {
    await client.admin.disableUser(user.user_id);
    setDone(`${user.username} is disabled: every key they hold stopped working.`);
    users.reload();
  });
  const shred = (user: UserInfo) => void action.run(async () => {
    await client.admin.shredSecrets(user.user_id);
    setShredding(null);
    setDone(`${user.username}'s stored provider keys are erased for good.`);
  });

  return (
    <section>
      <h1>Admin</h1>
      <CreateUser onCreated={(user) => { setCreated(user); users.reload(); }} />
      {created && (
        <div class="card secret" role="status">
          <p>User <strong>{created.username}</strong> created. Their first API key, shown only now:</p>
          <code class="mono">{created.api_key}</code>
          <button type="button" class="secondary" onClick={() => setCreated(null)}>Done</button>
        </div>
      )}
      <Alert message={users.error ?? action.error} />
      <Alert message={done} kind="info" />
      {users.loading && !users.data && <Loading what="users" />}
      {users.data && (
        <div class="table-wrap">
          <table aria-label="Users">
            <thead><tr><th scope="col">Username</th><th scope="col">Role</th><th scope="col">Status</th>
              <th scope="col">Created</th><th scope="col"><span class="visually-hidden">Actions</span></th></tr></thead>
            <tbody>
              {users.data.map((user) => (
                <tr key={user.user_id}>
                  <th scope="row">{user.username}</th>
                  <td>{user.is_admin ? "Admin" : "User"}</td>
                  <td>{user.disabled ? "Disabled" : "Active"}</td>
                  <td>{when(user.created_at)}</td>
                  <td class="actions">
                    {!user.disabled && user.user_id !== auth.userId && (
                      <button type="button" class="secondary" onClick={() => disable(user)} disabled={action.busy}>Disable</button>
                    )}
                    <button type="button" class="link danger" onClick={() => setShredding(user)}>Shred secrets</button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {shredding && <ConfirmShred user={shredding} busy={action.busy} onConfirm={() => shred(shredding)}
        onCancel={() => setShredding(null)} />}
    </section>
  );
}

function CreateUser({ onCreated }: { onCreated(user: NewUser): void }) {
  const { client } = useApp();
  const action = useAction();
  const [username, setUsername] = useState("");
  const [password, setPassword] = useState("");
  const [admin, setAdmin] = useState(false);
  const submit = (event: Event) => {
    event.preventDefault();
    void action.run(async () => {
      const user = await client.admin.createUser({ username: username.trim(), password, admin });
      setUsername("");
      setPassword("");
      setAdmin(false);
      onCreated(user);
    });
  };
  return (
    <form class="card" onSubmit={submit} aria-labelledby="new-user-title">
      <h2 id="new-user-title">New user</h2>
      <div class="row wrap">
        <div class="field grow">
          <label for="new-username">Username</label>
          <input id="new-username" required maxLength={64} pattern="[A-Za-z0-9_.@\-]+" value={username}
            autoComplete="off" onInput={(e) => setUsername(e.currentTarget.value)} />
        </div>
        <div class="field grow">
          <label for="new-password">Password</label>
          <input id="new-password" type="password" required minLength={8} value={password} autoComplete="new-password"
            onInput={(e) => setPassword(e.currentTarget.value)} />
        </div>
        <label class="inline">
          <input type="checkbox" checked={admin} onChange={(e) => setAdmin(e.currentTarget.checked)} /> Admin
        </label>
        <button type="submit" disabled={action.busy}>Create user</button>
      </div>
      <Alert message={action.error} />
    </form>
  );
}

function ConfirmShred({ user, busy, onConfirm, onCancel }: {
  user: UserInfo; busy: boolean; onConfirm(): void; onCancel(): void;
}) {
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    dialog.current?.showModal();
  }, []);
  return (
    <dialog ref={dialog} aria-labelledby="shred-title" aria-describedby="shred-text" onCancel={onCancel}>
      <h2 id="shred-title">Shred {user.username}'s secrets?</h2>
      <p id="shred-text">Their stored provider keys become unreadable for good; this cannot be undone. Their account,
        keys and history stay.</p>
      <div class="row">
        <button type="button" class="danger" onClick={onConfirm} disabled={busy}>Shred</button>
        <button type="button" class="secondary" onClick={onCancel}>Cancel</button>
      </div>
    </dialog>
  );
}
