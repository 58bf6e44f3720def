/** What the live tests share: the gateway of the stack, users of their own made by its admin. */

import { PluggablyClient } from "../../src/index.js";
import { admin, stack } from "../../../../tests/support/stack.js";

export { admin, eventually, fake, stack } from "../../../../tests/support/stack.js";

export const MODEL = "openai:gpt-4o-mini";
export const PASSWORD = "a-long-password-1";

let counter = 0;

/** A new user of its own for one test: its client, name and id. */
export async function newUser(prefix = "sdk"): Promise<{ client: PluggablyClient; username: string; id: string }> {
  const username = `${prefix}-${process.pid}-${Date.now().toString(36)}-${counter++}`;
  const user = await admin().admin.createUser({ username, password: PASSWORD, admin: false });
  return { client: new PluggablyClient({ baseUrl: stack().url, apiKey: user.api_key }), username, id: user.user_id };
}
