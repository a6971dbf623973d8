// Finds a Chromium for the browser tests and launches it headless. Without one the browser suites
// are skipped locally, with a note on how to get one, and fail under CI=true.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

const NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome'];
export const INSTALL_HINT =
  'install one with `apt-get install -y chromium`, or set CHROMIUM_PATH to a Chromium or Chrome executable';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** CHROMIUM_PATH if set, else the first Chromium or Chrome on PATH. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.CHROMIUM_PATH) return isExecutable(env.CHROMIUM_PATH) ? env.CHROMIUM_PATH : undefined;
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    for (const name of NAMES) if (isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export const chromiumPath = findChromium();
const isCI = !!process.env.CI && !['0', 'false'].includes(process.env.CI.toLowerCase());

function missingMessage(): string {
  const bad = process.env.CHROMIUM_PATH;
  return bad
    ? `CHROMIUM_PATH=${bad} is not an executable; ${INSTALL_HINT}`
    : `no Chromium found; ${INSTALL_HINT}`;
}

/**
 * `describe` when a browser is there, and under CI (where a missing browser must fail the run);
 * otherwise the suite is skipped with a message saying how to install one.
 */
export function describeWithBrowser(name: string, fn: () => void): void {
  if (chromiumPath || isCI) {
    describe(name, fn);
    return;
  }
  console.warn(`Skipping "${name}": ${missingMessage()}.`);
  describe.skip(`${name} (skipped: ${missingMessage()})`, fn);
}

export async function launchChromium(): Promise<Browser> {
  if (!chromiumPath) throw new Error(`Browser tests need Chromium: ${missingMessage()}.`);
  return chromium.launch({
    executablePath: chromiumPath,
    args: CHROMIUM_ARGS,
    headless: true,
    timeout: 30_000,
  });
}

/** Collects console errors and uncaught exceptions of a page, for "no console errors" checks. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', (msg) => {
    if (msg.type() === 'error') errors.push(`console: ${msg.text()}`);
  });
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  return errors;
}
