/**
 * What the browser tests share: Debian's Chromium driven by playwright-core (never a browser download), a fresh
 * context per test, users made by the stack's admin, screenshots, and waits on what a person sees (roles, names,
 * text), never on time.
 */

import { mkdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

import { admin, stack } from "../support/stack.js";

export { admin, eventually, fake, stack } from "../support/stack.js";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SCREENSHOTS = join(ROOT, "reports", "screenshots");
export const PASSWORD = "browser-password-1";
export const CHROMIUM = process.env.PLUGGABLY_CHROMIUM ?? "/usr/bin/chromium";
/** The machine notes' flags: without the background-networking ones Chromium floods the closed network. */
export const CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync"];
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 812 };


/** Chromium with a fresh profile (playwright-core makes a new user data dir for every launch). */
export function launch(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
}

export interface Session {
  context: BrowserContext;
  page: Page;
  errors: string[];
}

/** A new context (its own storage) and page; uncaught page errors are collected for the test to check. */
export async function open(browser: Browser): Promise<Session> {
  const context = await browser.newContext({ viewport: DESKTOP });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error" && !/Failed to load resource/.test(message.text())) errors.push(message.text());
  });
  return { context, page, errors };
}

let counter = 0;

/** A new user of this test's own (created by the admin): its name and id. */
export async function newUser(prefix: string, options: { admin?: boolean } = {}) {
  const username = `${prefix}-${Date.now().toString(36)}-${counter++}`;
  const user = await admin().admin.createUser({ username, password: PASSWORD, admin: options.admin ?? false });
  return { username, id: user.user_id, apiKey: user.api_key };
}

export async function signIn(page: Page, username: string, password = PASSWORD): Promise<void> {
  await page.goto(stack().url + "/");
  await page.getByRole("textbox", { name: "Username" }).fill(username);
  await page.getByRole("textbox", { name: "Password" }).fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Chat" }).waitFor();
  await page.getByRole("combobox", { name: "Model" }).waitFor();
}

export async function go(page: Page, label: string): Promise<void> {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: label, exact: true }).click();
  await page.getByRole("heading", { level: 1 }).first().waitFor();
}

/** `reports/screenshots/<name>-desktop.png` and `<name>-375.png` (the page as a phone shows it). */
export async function screenshots(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const size = page.viewportSize() ?? DESKTOP;
  for (const [viewport, suffix] of [[DESKTOP, "desktop"], [PHONE, "375"]] as const) {
    await page.setViewportSize(viewport);
    await page.evaluate(() => window.scrollTo(0, 0)); // the sticky bar at the top of the picture
    await page.screenshot({ path: join(SCREENSHOTS, `${name}-${suffix}.png`), fullPage: true });
  }
  await page.setViewportSize(size);
}
