/**
 * Debian's Chromium driven by playwright-core for the report tests (no browser download):
 * a fresh profile per launch, the flags this closed network needs, and a record of every
 * request that is not file: or data: (a self-contained report makes none).
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export function openReport(file: string): Promise<{ browser: BrowserContext; page: Page; fetched: string[]; errors: string[] }> {
  return openPage(`file://${file}`);
}

/** Opens any URL (a page served on loopback, for the dashboard). */
export async function openPage(url: string): Promise<{ browser: BrowserContext; page: Page; fetched: string[]; errors: string[] }> {
  assert.ok(existsSync(CHROMIUM), "this test needs Debian's Chromium: apt-get install -y chromium (.ci/run installs it)");
  const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "aegis-chromium-")), {
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 900 },
  });
  const page = await browser.newPage();
  const fetched: string[] = [];
  const errors: string[] = [];
  page.on("request", (r) => {
    if (!r.url().startsWith("file:") && !r.url().startsWith("data:")) fetched.push(r.url());
  });
  page.on("pageerror", (e) => errors.push(e.message));
  await page.goto(url, { waitUntil: "load" });
  return { browser, page, fetched, errors };
}
