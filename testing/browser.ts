/**
 * A real browser for the dashboard's tests: Chromium, headless, driven over the DevTools protocol
 * (puppeteer-core, which downloads no browser of its own). It trusts a tracker's certificate by its
 * public key only (Chromium's --ignore-certificate-errors-spki-list, a pin, as agents pin the CA), so
 * the pages run in a secure context: Secure cookies, SameSite and the CSP work as they will for a user.
 * One browser per test file (it takes a second or two to start); `close` stops it and removes its profile.
 */
import { createHash, X509Certificate } from "node:crypto";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { chromiumPath } from "./machine.ts";

export type { Browser, Page };

export interface TestBrowser {
  browser: Browser;
  /** A new tab, 1280x800, that accepts the pages' confirm() dialogs and keeps their console errors. */
  newPage(): Promise<Page>;
  /** Console errors of every page so far (a CSP violation is one). */
  errors: string[];
  close(): Promise<void>;
}

/** The base64 SHA-256 of a certificate's SubjectPublicKeyInfo, as Chromium's SPKI list takes it. */
export function spkiHash(certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  return createHash("sha256").update(spki).digest("base64");
}

/** Chromium trusting the certificates `trust` (PEM) by their keys. */
export async function startBrowser(options: { trust: string[] }): Promise<TestBrowser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new Error("No Chromium: install it (apt-get install chromium) or set FABRIC_CHROMIUM");
  const profile = await Deno.makeTempDir({ prefix: "fabric-browser-" });
  const browser = await puppeteer.launch({
    executablePath,
    headless: true,
    userDataDir: profile,
    args: [
      // Chromium's own sandbox cannot start as root, and CI runs the tests as root: only for that. The
      // pages come from the test's own tracker on loopback.
      "--no-sandbox",
      `--ignore-certificate-errors-spki-list=${options.trust.map(spkiHash).join(",")}`,
      "--no-first-run",
      "--disable-gpu",
      "--disable-extensions",
      "--disable-background-networking",
      "--disable-component-update",
    ],
  }).catch(async (error) => {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
    throw error;
  });
  const errors: string[] = [];
  // The tab the browser opened with is the first one handed out (a new tab costs a second on a busy machine).
  let blank: Page | null = (await browser.pages())[0] ?? null;
  return {
    browser,
    errors,
    async newPage() {
      const page = blank ?? await browser.newPage();
      blank = null;
      await page.setViewport({ width: 1280, height: 800 });
      page.on("dialog", (dialog) => void dialog.accept());
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text());
      });
      page.on("pageerror", (error) => errors.push(String(error)));
      return page;
    },
    async close() {
      const process = browser.process();
      await Promise.race([browser.close(), new Promise((resolve) => setTimeout(resolve, 5000))]);
      // Not closed in time: its process is killed (its helpers end with it).
      if (process?.exitCode === null && process.pid) {
        try {
          Deno.kill(process.pid, "SIGKILL");
        } catch { /* gone meanwhile */ }
      }
      await Deno.remove(profile, { recursive: true }).catch(() => {});
    },
  };
}

/** Sign in on `url`'s dashboard with `token` through the form; resolves on the page the form leads to. */
export async function signIn(page: Page, url: string, token: string): Promise<void> {
  await page.goto(`${url}/sign-in`, { waitUntil: "domcontentloaded" });
  await page.type("input[name=token]", token);
  await Promise.all([page.waitForNavigation({ waitUntil: "domcontentloaded" }), page.click("button[type=submit]")]);
}

/**
 * Press the button `selector` and wait for the page it leads to. Found and pressed in one step in the
 * page: a live region may redraw it between puppeteer's finding it and its click ("Node is detached
 * from document", the audit test in CI).
 */
export async function press(page: Page, selector: string): Promise<void> {
  const pressed = page.evaluate((found: string) => {
    const button = (globalThis as unknown as {
      document: { querySelector(s: string): { click(): void } | null };
    }).document.querySelector(found);
    if (!button) throw new Error(`no ${found} on the page`);
    button.click();
  }, selector);
  await Promise.all([page.waitForNavigation(), pressed]);
}

/** The visible text of `selector` (the first match), or "" when there is none. */
export async function textOf(page: Page, selector: string): Promise<string> {
  const element = await page.$(selector);
  if (!element) return "";
  return await element.evaluate((e) => (e as unknown as { innerText: string }).innerText);
}
