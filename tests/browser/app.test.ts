/**
 * PlugAI end to end: Debian's Chromium (headless, through playwright-core) against a real gateway with the OpenAI
 * fake, a fake Hugging Face hub and the tiny local models. Elements are found by role and accessible name, as a
 * person (or a screen reader) finds them; waits are on what the page shows, never on time.
 */

import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";

import { PluggablyClient } from "../../clients/typescript/src/index.js";
import {
  PASSWORD, admin, eventually, fake, go, launch, newUser, open, screenshots, signIn, stack, type Session,
} from "./support.js";

let browser: Browser;
let session: Session;
let page: Page;

beforeAll(async () => {
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  await fake("reset");
  await session?.context.close();
});

async function fresh(): Promise<Page> {
  session = await open(browser);
  page = session.page;
  return page;
}

async function signedIn(prefix: string, options: { admin?: boolean } = {}) {
  const user = await newUser(prefix, options);
  await fresh();
  await signIn(page, user.username);
  return user;
}

const assistant = (p: Page) => p.getByRole("log", { name: "Messages" }).getByRole("listitem")
  .filter({ hasText: "Assistant" });

const ECHO = "openai:gpt-4o-mini"; // the OpenAI fake answers "Echo: <the prompt>"

async function send(p: Page, text: string, model = ECHO): Promise<void> {
  await p.getByRole("combobox", { name: "Model" }).selectOption(model);
  await p.getByRole("textbox", { name: "Message" }).fill(text);
  await p.getByRole("button", { name: "Send" }).click();
}

describe("signing in", () => {
  it("refuses a wrong password with a readable message, then signs in; and takes a pasted API key", async () => {
    const user = await newUser("signin");
    await fresh();
    await page.goto(stack().url + "/");
    await page.getByRole("heading", { name: "Sign in to PlugAI" }).waitFor();
    await screenshots(page, "signin");
    await page.getByRole("textbox", { name: "Username" }).fill(user.username);
    await page.getByRole("textbox", { name: "Password" }).fill("not-the-password");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "Wrong username or password." }).waitFor();
    expect(await page.getByRole("alert").textContent()).not.toContain("{");
    await page.getByRole("textbox", { name: "Password" }).fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Chat" }).waitFor();
    expect(new URL(page.url()).pathname).toBe("/chat");
    expect(await page.getByRole("link", { name: "Admin" }).count()).toBe(0); // not an admin
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByText("You are signed out.").waitFor();

    await page.getByRole("tab", { name: "API key" }).click();
    await page.getByRole("textbox", { name: "API key" }).fill(user.apiKey);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("combobox", { name: "Model" }).waitFor();
    await page.getByText(user.username, { exact: true }).waitFor();
    expect(session.errors).toEqual([]);
  });
});

describe("chat", () => {
  it("streams a reply (partial text first), renders markdown but never HTML from the model", async () => {
    await signedIn("chat");
    await fake("script", { hold: { after_events: 3 } }); // the reply stops after its first words, until released
    await page.evaluate(() => { (window as unknown as { pwned?: boolean }).pwned = false; });
    await send(page, "alpha **beta** <img src=x onerror=window.pwned=true> gamma");
    const reply = assistant(page).last();
    await reply.getByText("Echo: alpha").waitFor();
    expect(await reply.textContent()).not.toContain("gamma"); // partial: the rest has not come yet
    await page.getByRole("button", { name: "Stop" }).waitFor(); // still streaming
    await fake("release");
    await reply.getByText("gamma").waitFor();
    await page.getByRole("button", { name: "Stop" }).waitFor({ state: "detached" });
    expect(await reply.locator("strong").textContent()).toBe("beta"); // markdown
    expect(await page.getByRole("log", { name: "Messages" }).locator("img").count()).toBe(0); // no element
    await reply.getByText("<img src=x onerror=window.pwned=true>").waitFor(); // shown as text
    expect(await page.evaluate(() => (window as unknown as { pwned?: boolean }).pwned)).toBe(false);
    await screenshots(page, "chat");
    expect(session.errors).toEqual([]);
  });

  it("stops a slow reply: the generation is cancelled", async () => {
    const user = await signedIn("stop");
    await fake("script", { hold: { after_events: 2 } }); // and never released
    await send(page, "a slow answer that never ends");
    await assistant(page).last().getByText("Echo:").waitFor();
    await page.getByRole("button", { name: "Stop" }).click();
    await assistant(page).last().getByRole("status").filter({ hasText: "Stopped." }).waitFor();
    await page.getByRole("button", { name: "Stop" }).waitFor({ state: "detached" });
    const client = new PluggablyClient({ baseUrl: stack().url, apiKey: user.apiKey });
    const [chat] = await client.sessions.list();
    const history = await client.sessions.history(chat!.id);
    expect(history.events.map((e) => e.type)).toContain("Generation.Cancelled");
  });

  it("keeps sessions: the last one reopens after a reload; rename and delete", async () => {
    await signedIn("sessions");
    await send(page, "remember this");
    await assistant(page).last().getByText("Echo: remember this").waitFor();
    const url = page.url();
    await page.reload();
    await assistant(page).last().getByText("Echo: remember this").waitFor();
    expect(page.url()).toBe(url);
    await page.goto(stack().url + "/chat"); // the last session reopens
    await assistant(page).last().getByText("Echo: remember this").waitFor();
    expect(page.url()).toBe(url);

    const sessions = page.getByRole("complementary", { name: "Sessions" });
    await sessions.getByRole("button", { name: "New chat" }).click();
    await send(page, "a second thing");
    await assistant(page).last().getByText("Echo: a second thing").waitFor();
    await sessions.getByRole("link", { name: "remember this" }).click(); // back and forth between the two
    await assistant(page).last().getByText("Echo: remember this").waitFor();
    await sessions.getByRole("link", { name: "a second thing" }).click();
    await assistant(page).last().getByText("Echo: a second thing").waitFor();
    expect(await page.getByRole("log", { name: "Messages" }).getByText("remember this").count()).toBe(0);
    await sessions.getByRole("listitem").filter({ hasText: "a second thing" }).getByRole("button", { name: "Delete" }).click();
    await sessions.getByRole("link", { name: "a second thing" }).waitFor({ state: "detached" });
    await sessions.getByRole("listitem").filter({ hasText: "remember this" }).getByRole("button", { name: "Rename" }).click();
    await sessions.getByRole("textbox", { name: "New title" }).fill("Kept notes");
    await sessions.getByRole("button", { name: "Save" }).click();
    await sessions.getByRole("link", { name: "Kept notes" }).waitFor();
    await sessions.getByRole("listitem").filter({ hasText: "Kept notes" }).getByRole("button", { name: "Delete" }).click();
    await sessions.getByText("No sessions yet").waitFor();
    expect(new URL(page.url()).pathname).toBe("/chat");
  });

  it("generates an image and a mesh with the local models, and shows them", async () => {
    await signedIn("media");
    const picker = page.getByRole("combobox", { name: "Model" });
    expect(await picker.locator("optgroup").evaluateAll((groups) => groups.map((g) => g.getAttribute("label"))))
      .toEqual(expect.arrayContaining(["Local · text", "Local · image", "Local · 3D", "OpenAI · text"]));
    await page.getByRole("combobox", { name: "Model" }).selectOption("local:tiny-sd");
    await page.getByText("Options").click();
    await page.getByRole("spinbutton", { name: "Width" }).fill("64"); // the tiny model, small and quick
    await page.getByRole("spinbutton", { name: "Height" }).fill("64");
    await page.getByRole("spinbutton", { name: "Steps" }).fill("2");
    await send(page, "a red square", "local:tiny-sd");
    await page.getByRole("img", { name: "Generated image 1 for “a red square”" }).waitFor({ timeout: 90_000 });
    await page.getByRole("combobox", { name: "Model" }).selectOption("local:tiny-shap-e");
    await page.getByRole("spinbutton", { name: "Steps" }).fill("2");
    await send(page, "a small chair", "local:tiny-shap-e");
    const download = page.getByRole("link", { name: /Download the mesh/ });
    await download.waitFor({ timeout: 90_000 });
    expect(await download.getAttribute("href")).toMatch(/^blob:/);
    await page.locator("model-viewer").waitFor();
    expect(await page.locator("model-viewer").evaluate((viewer) => (viewer as HTMLImageElement).src)).toMatch(/^blob:/);
    await page.waitForFunction(() => (document.querySelector("model-viewer") as unknown as { loaded?: boolean })?.loaded);
    await screenshots(page, "chat-media");
    await page.reload(); // the replies that are images and meshes come back from their generations
    await page.getByRole("img", { name: "Generated image 1 for “a red square”" }).waitFor();
    await page.getByRole("link", { name: /Download the mesh/ }).waitFor();
  });
});

describe("history", () => {
  it("shows a session's events as a timeline, also as of an earlier time", async () => {
    await signedIn("history");
    await send(page, "first words");
    await assistant(page).last().getByText("Echo: first words").waitFor();
    await page.getByRole("link", { name: "History of this session" }).click();
    const events = page.getByRole("list", { name: "Events" });
    await events.getByText("Generation completed").waitFor();
    await page.getByText(/events so far/).waitFor();
    const all = await events.getByRole("listitem").count();
    expect(all).toBeGreaterThanOrEqual(5);
    const started = await events.locator("time").first().getAttribute("datetime");
    const local = new Date(Date.parse(started!) - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 19);
    await page.getByLabel("As of").fill(local); // the moment the session started
    await page.getByText(/events up to/).waitFor();
    expect(await events.getByRole("listitem").count()).toBeLessThan(all);
    await page.getByRole("button", { name: "Now" }).click();
    await page.getByText(/events so far/).waitFor();
    expect(await events.getByRole("listitem").count()).toBe(all);
    await screenshots(page, "history");
  });
});

describe("models", () => {
  it("searches the hub with paging, downloads with a moving progress bar, cancels", async () => {
    await signedIn("models-admin", { admin: true });
    await go(page, "Models");
    await page.getByRole("heading", { name: "Text", level: 2 }).waitFor();
    await page.getByRole("rowheader", { name: /local:tiny-sd/ }).waitFor();
    await page.getByRole("textbox", { name: "Search models" }).fill("tiny-llama");
    await page.getByRole("button", { name: "Search" }).click();
    const results = page.getByRole("table", { name: "Search results" });
    await results.getByRole("row").nth(1).waitFor();
    const firstPage = await results.getByRole("rowheader").allTextContents();
    await page.getByRole("button", { name: "Next page" }).click();
    await page.getByText("Page 2").waitFor();
    expect(await results.getByRole("rowheader").allTextContents()).not.toEqual(firstPage);
    await page.getByRole("button", { name: "Previous page" }).click();
    await page.getByText("Page 1").waitFor();

    await page.getByRole("textbox", { name: "Search models" }).fill("slow");
    await page.getByRole("button", { name: "Search" }).click();
    await results.getByRole("row", { name: new RegExp(stack().slow_repo) }).getByRole("button", { name: "Download" }).click();
    const bar = page.getByRole("progressbar", { name: `Download of ${stack().slow_repo}` });
    await bar.waitFor();
    const value = async () => Number(await bar.getAttribute("aria-valuenow"));
    await page.waitForFunction((name) => Number(document.querySelector(`[aria-label="${name}"]`)
      ?.getAttribute("aria-valuenow")) > 0, `Download of ${stack().slow_repo}`);
    const first = await value();
    await page.waitForFunction(([name, was]) => Number(document.querySelector(`[aria-label="${name}"]`)
      ?.getAttribute("aria-valuenow")) > Number(was), [`Download of ${stack().slow_repo}`, first] as const);
    expect(await value()).toBeGreaterThan(first); // it moved
    await screenshots(page, "models");
    await page.getByRole("listitem").filter({ has: bar }).getByRole("button", { name: "Cancel" }).click();
    await page.getByText("Cancelled.").waitFor();
    expect(await value()).toBeLessThan(100);

    await page.getByRole("textbox", { name: "Search models" }).fill("tiny-llama-two"); // a small one, to the end
    await page.getByRole("button", { name: "Search" }).click();
    await results.getByRole("row", { name: /tiny-llama-two/ }).getByRole("button", { name: "Download" }).click();
    await page.getByText("Downloaded.").waitFor();
    const downloaded = page.getByRole("row", { name: /local:tiny-llama-two/ });
    await downloaded.getByRole("button", { name: "Delete" }).click();
    await downloaded.waitFor({ state: "detached" });
  });
});

describe("keys", () => {
  it("creates a key shown once, which works; revoked, it is refused", async () => {
    await signedIn("keys");
    await go(page, "Keys");
    await page.getByRole("textbox", { name: "Key name" }).fill("browser-made");
    await page.getByRole("button", { name: "Create key" }).click();
    const secret = await page.getByRole("textbox", { name: "New API key" }).inputValue();
    expect(secret).toMatch(/^pk-/);
    await page.getByRole("button", { name: "Copy" }).waitFor();
    const made = new PluggablyClient({ baseUrl: stack().url, apiKey: secret, maxRetries: 0 });
    expect((await made.me()).key_id).toBeTruthy();
    const row = page.getByRole("row", { name: /browser-made/ });
    await row.getByRole("cell", { name: "Active" }).waitFor();
    await screenshots(page, "keys");
    await row.getByRole("button", { name: "Revoke" }).click();
    await row.getByRole("cell", { name: "Revoked" }).waitFor();
    await expect(made.me()).rejects.toMatchObject({ status: 401 });
  });
});

describe("profile", () => {
  it("saves a provider key and shows only its last four characters", async () => {
    await signedIn("profile");
    await go(page, "Profile");
    const anthropic = page.getByRole("listitem", { name: "Anthropic" });
    await anthropic.getByText("Not configured").waitFor();
    await page.getByRole("listitem", { name: "OpenAI" }).getByText("Configured by the server").waitFor();
    await anthropic.getByRole("textbox", { name: "Anthropic API key" }).fill("sk-ant-browser-secret-4321");
    await anthropic.getByRole("button", { name: "Save" }).click();
    await anthropic.getByText("Configured by you (key ending …4321)").waitFor();
    await page.reload();
    await page.getByRole("listitem", { name: "Anthropic" }).getByText("Configured by you (key ending …4321)").waitFor();
    expect(await page.content()).not.toContain("browser-secret");
    expect(await page.getByRole("textbox", { name: "Anthropic API key" }).inputValue()).toBe("");
    await screenshots(page, "profile");
    await page.getByRole("listitem", { name: "Anthropic" }).getByRole("button", { name: "Remove" }).click();
    await page.getByRole("listitem", { name: "Anthropic" }).getByText("Not configured").waitFor();
  });
});

describe("usage", () => {
  it("counts the requests just made, in the chart and the table", async () => {
    const user = await signedIn("usage");
    for (const text of ["one", "two"]) {
      await send(page, text);
      await assistant(page).last().getByText(`Echo: ${text}`).waitFor();
    }
    const client = new PluggablyClient({ baseUrl: stack().url, apiKey: user.apiKey });
    await eventually(async () => expect((await client.usage.get()).totals.requests).toBe(2)); // metered a moment later
    await go(page, "Usage");
    const today = new Date().toISOString().slice(0, 10);
    await page.getByRole("img", { name: new RegExp(`Requests per day, .*${today}: 2`) }).waitFor();
    const row = page.getByRole("table", { name: "Usage by day and model" }).getByRole("row", { name: /gpt-4o/ });
    expect(await row.getByRole("cell").nth(1).textContent()).toBe("2");
    await screenshots(page, "usage");
    await page.getByRole("textbox", { name: "From", exact: true }).fill("2020-01-01");
    await page.getByRole("textbox", { name: "To", exact: true }).fill("2020-01-31");
    await page.getByText("No usage in this range.").waitFor();
  });
});

describe("admin", () => {
  it("creates and disables a user, and shreds their secrets after a confirmation", async () => {
    await signedIn("admin", { admin: true });
    await go(page, "Admin");
    const username = `made-${Date.now().toString(36)}`;
    await page.getByRole("textbox", { name: "Username" }).fill(username);
    await page.getByRole("textbox", { name: "Password" }).fill("a-long-password-2");
    await page.getByRole("button", { name: "Create user" }).click();
    const row = page.getByRole("row", { name: new RegExp(username) });
    await row.getByRole("cell", { name: "Active" }).waitFor();
    await page.getByText(`User ${username} created.`).waitFor();
    await screenshots(page, "admin");
    await row.getByRole("button", { name: "Shred secrets" }).click();
    const dialog = page.getByRole("dialog", { name: `Shred ${username}'s secrets?` });
    await dialog.getByRole("button", { name: "Shred" }).click();
    await page.getByText(`${username}'s stored provider keys are erased for good.`).waitFor();
    await row.getByRole("button", { name: "Disable" }).click();
    await row.getByRole("cell", { name: "Disabled" }).waitFor();
    const refused = await new PluggablyClient({ baseUrl: stack().url }).auth.login(username, "a-long-password-2")
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ status: 403, code: "account_disabled" });
    expect((await admin().admin.listUsers()).find((u) => u.username === username)?.disabled).toBe(true);
  });
});

describe("settings", () => {
  it("switches to the dark theme and keeps the API URL", async () => {
    await signedIn("settings");
    await go(page, "Settings");
    expect(await page.getByRole("textbox", { name: "API URL" }).inputValue()).toBe(stack().url);
    await page.getByRole("radio", { name: "Dark" }).check();
    await page.waitForFunction(() => document.documentElement.dataset.theme === "dark");
    await screenshots(page, "settings");
    await page.getByRole("textbox", { name: "API URL" }).fill("not a url");
    await page.getByRole("button", { name: "Save" }).click();
    await page.getByRole("alert").filter({ hasText: "must be an http" }).waitFor();
    await page.reload();
    await page.waitForFunction(() => document.documentElement.dataset.theme === "dark");
    await page.getByRole("radio", { name: "Light" }).check();
  });
});
