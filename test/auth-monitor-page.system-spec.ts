/// <reference lib="dom" />
// The monitor page in JWT mode: a hijack attempt on a device's stream shows in the integrity panel
// as a refused claim (stream, claiming subject, reason, time), and no token text reaches the page.
import type { Browser } from 'playwright-core';
import { type RunningApp, startApp } from './support/app.js';
import { bearer, hsKey, jwtEnv, mint, refusedUpgrade } from './support/auth.js';
import { describeWithBrowser, launchChromium, watchErrors } from './support/browser.js';

const UI_TIMEOUT = 8000;
const MONITOR_TOKEN = 'monitor-secret-0003';

describeWithBrowser('Monitor page, refused stream claims (e2e)', () => {
  let running: RunningApp;
  let browser: Browser;
  const key = hsKey();

  beforeAll(async () => {
    running = await startApp(jwtEnv(key, { MONITOR_TOKEN }));
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await running?.close();
  });

  it('shows who claimed which stream and why, never a token', async () => {
    const page = await browser.newPage();
    const errors = watchErrors(page);
    await page.addInitScript((token) => sessionStorage.setItem('cbsa.monitorToken', token), MONITOR_TOKEN);
    await page.goto(running.http + '/');
    await page.waitForSelector('[data-testid="refused"]', { state: 'hidden', timeout: UI_TIMEOUT });
    // Wait until the page's monitor socket is open (it counts as a monitor in /health).
    for (let i = 0; i < 100; i++) {
      const health = (await (await fetch(`${running.http}/health`)).json()) as { active_monitors: number };
      if (health.active_monitors > 0) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const attacker = await mint(key, { sub: 'install-666' });
    const stream = 'install-42:session-1';
    expect(
      (await refusedUpgrade(running.ws(`/ws/behaviour?stream=${stream}`), bearer(attacker))).status,
    ).toBe(403);
    const expired = await mint(key, { sub: 'install-42', expiresIn: -60 });
    expect((await refusedUpgrade(running.ws(`/ws/behaviour?stream=${stream}`), bearer(expired))).status).toBe(
      401,
    );

    await page.waitForSelector('[data-testid="refused"]', { state: 'visible', timeout: UI_TIMEOUT });
    await page.waitForFunction(
      () => document.querySelectorAll('[data-testid="refused-claims"] li').length === 2,
      undefined,
      { timeout: UI_TIMEOUT },
    );
    const lines = await page.$$eval('[data-testid="refused-claims"] li', (els) =>
      els.map((e) => e.textContent),
    );
    expect(lines).toEqual([
      expect.stringMatching(/^\d\d:\d\d:\d\d · install-42:session-1 · no valid token · expired token$/),
      expect.stringMatching(
        /^\d\d:\d\d:\d\d · install-42:session-1 · claimed by install-666 · not its stream$/,
      ),
    ]);
    const html = await page.content();
    expect(html).not.toContain(attacker.split('.')[2]);
    expect(html).not.toContain(expired.split('.')[2]);
    expect(errors).toEqual([]);
    await page.close();
  });
});
