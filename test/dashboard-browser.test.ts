import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { DashboardSettings } from '../src/dashboard/client.js';
import { CacheConfigDocument, CacheStatsDocument, GenerationDocument } from '../src/generated/graphql.js';
import { DASHBOARD_CSP } from '../src/plugins/use-dashboard.js';
import { chromiumPresent, chromiumSkipReason, isolatedContext, launchLoopbackChromium, type IsolatedContext } from './helpers/chromium.js';
import { createHarness, dataOf, listen, postOperation, serve, type Harness, type Listening } from './helpers/harness.js';

const TOKEN = 'a-dashboard-admin-token';
/**
 * Where the screenshot goes: the one the README shows when UPDATE_SCREENSHOT=1, else a temporary
 * file, so that a test run leaves the tree as it found it.
 */
const SCREENSHOT =
  process.env['UPDATE_SCREENSHOT'] === '1'
    ? new URL('../src/dashboard/screenshot.png', import.meta.url).pathname
    : join(mkdtempSync(join(tmpdir(), 'gencache-dashboard-')), 'screenshot.png');
const require = createRequire(import.meta.url);

const ASSETS = {
  '/dashboard/assets/dashboard.js': 'text/javascript; charset=utf-8',
  '/dashboard/assets/dashboard.css': 'text/css; charset=utf-8',
  '/dashboard/assets/uPlot.esm.js': 'text/javascript; charset=utf-8',
  '/dashboard/assets/uPlot.min.css': 'text/css; charset=utf-8',
  '/dashboard/assets/icon.svg': 'image/svg+xml',
};

const get = (harness: Harness, path: string, headers: Record<string, string> = {}, method = 'GET') =>
  harness.yoga.fetch(`http://127.0.0.1${path}`, { method, headers });

/** The settings the page carries, as its script reads them. */
function settingsOf(page: string): DashboardSettings {
  const json = /<script type="application\/json" id="dashboard-settings">(.*?)<\/script>/s.exec(page)?.[1];
  if (json === undefined) throw new Error('the page has no settings');
  return JSON.parse(json) as DashboardSettings;
}

/** The first result of a GraphQL subscription over SSE (POST, Accept: text/event-stream). */
async function firstEvent(url: string, query: string, variables: Record<string, unknown>, headers: Record<string, string> = {}): Promise<unknown> {
  const controller = new AbortController();
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...headers },
    body: JSON.stringify({ query, variables }),
    signal: controller.signal,
  });
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`the stream ended without a result: ${text}`);
      text += value;
      const data = /event: next\ndata: (.*)\n\n/.exec(text)?.[1];
      if (data !== undefined) return JSON.parse(data);
    }
  } finally {
    controller.abort();
  }
}

describe('the dashboard endpoint', () => {
  it('serves the page with a Content-Security-Policy of its own origin, and no inline script, style or handler', async () => {
    const harness = createHarness();
    const response = await get(harness, '/dashboard');
    const page = await response.text();

    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
    expect(DASHBOARD_CSP).toMatch(/^default-src 'self';/);
    expect(DASHBOARD_CSP).not.toMatch(/unsafe|https?:|\*/);
    // Every script is the module of the package, or JSON the browser never runs.
    expect([...page.matchAll(/<script([^>]*)>/g)].map((match) => match[1]!.trim())).toEqual([
      'type="application/json" id="dashboard-settings"',
      'type="module" src="/dashboard/assets/dashboard.js"',
    ]);
    expect(page).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    expect([...page.matchAll(/(?:src|href)="([^"]*)"/g)].map((match) => match[1])).toEqual([
      '/dashboard/assets/icon.svg',
      '/dashboard/assets/uPlot.min.css',
      '/dashboard/assets/dashboard.css',
      '/dashboard/assets/dashboard.js',
      '/graphql',
    ]);
    expect((await get(harness, '/dashboard/')).status).toBe(200);
  });

  it('serves its script, its styles and uPlot from the package, with their content types', async () => {
    const harness = createHarness();
    for (const [path, type] of Object.entries(ASSETS)) {
      const response = await get(harness, path);
      expect([path, response.status, response.headers.get('content-type'), response.headers.get('x-content-type-options')]).toEqual([path, 200, type, 'nosniff']);
      const body = await response.text();
      expect(body).not.toMatch(/\bimport\s[^;]*from\s*["']https?:/);
    }
    const uplot = await (await get(harness, '/dashboard/assets/uPlot.esm.js')).text();
    expect(uplot).toBe(readFileSync(require.resolve('uplot/dist/uPlot.esm.js'), 'utf8'));
    const script = await (await get(harness, '/dashboard/assets/dashboard.js')).text();
    expect(script.split('\n')[0]).toBe('import uPlot from "/dashboard/assets/uPlot.esm.js";');
  });

  it('answers HEAD without a body, a matching If-None-Match with 304, other methods with 405, other paths with 404', async () => {
    const harness = createHarness();
    const page = await get(harness, '/dashboard');
    const etag = page.headers.get('etag')!;
    const head = await get(harness, '/dashboard', {}, 'HEAD');
    const revalidated = await get(harness, '/dashboard', { 'if-none-match': etag });
    const posted = await get(harness, '/dashboard', { 'content-type': 'application/json' }, 'POST');

    expect([head.status, await head.text(), head.headers.get('etag')]).toEqual([200, '', etag]);
    expect([revalidated.status, await revalidated.text()]).toEqual([304, '']);
    expect([posted.status, posted.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    expect((await get(harness, '/dashboard/assets/missing.js')).status).toBe(404);
    // Another path that only starts alike is not the dashboard's.
    expect((await get(harness, '/dashboards')).status).toBe(404);
  });

  it('is lane-safe: the fast lane stays on and takes JSON POSTs beside the page', async () => {
    const harness = createHarness();
    expect(harness.fastLane).toBeDefined();
    const url = await serve(harness);
    const lane = vi.spyOn(harness.fastLane!, 'serve');

    const page = await fetch(new URL('/dashboard', url));
    for (const prompt of ['one', 'two', 'one']) {
      dataOf(await postOperation(fetch, url, GenerationDocument, { input: { prompt } }));
    }

    expect(page.status).toBe(200);
    expect(await Promise.all(lane.mock.results.map((result) => result.value))).toEqual([true, true, true]);
  });

  it('sends the exact texts of trusted documents: a server with TRUSTED_DOCUMENTS=1 runs them', async () => {
    const harness = createHarness({ env: { TRUSTED_DOCUMENTS: '1', ADMIN_TOKEN: TOKEN } });
    const url = await serve(harness);
    const { operations } = settingsOf(await (await fetch(new URL('/dashboard', url))).text());
    const post = async (query: string, variables?: Record<string, unknown>) =>
      (await (
        await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
          body: JSON.stringify({ query, variables }),
        })
      ).json()) as { data?: Record<string, unknown>; errors?: { extensions?: { code?: string } }[] };

    expect(await post(operations.entries, { first: 10, orderBy: 'LARGEST' })).toEqual({ data: { cacheEntries: expect.any(Object) } });
    expect(await post(operations.config)).toEqual({ data: { cacheConfig: expect.any(Object) } });
    expect(await post(operations.updateConfig, { input: { maxEntries: 500 } })).toEqual({ data: { updateCacheConfig: expect.objectContaining({ maxEntries: 500 }) } });
    expect(await post(operations.clearCache)).toEqual({ data: { clearCache: expect.objectContaining({ removed: 0 }) } });
    expect(await firstEvent(url, operations.stats, { intervalMs: 200, scope: 'INSTANCE' })).toEqual({ data: { cacheStats: expect.objectContaining({ entries: 0 }) } });
    // The mode is on: the same text reformatted is refused.
    expect((await post(` ${operations.config}`)).errors?.[0]?.extensions?.code).toBe('PERSISTED_QUERY_ONLY');
  });

  it("links GraphiQL's title to the dashboard, and keeps the page's title", async () => {
    const harness = createHarness();
    const page = await (await get(harness, '/graphql', { accept: 'text/html' })).text();

    expect(page).toContain('<title>gencache</title>');
    expect(page).toContain(JSON.stringify({ title: 'gencache · <a href="/dashboard">dashboard</a>' }).slice(1, -1));
  }, 60_000);
});

describe.skipIf(!chromiumPresent)(`the dashboard in Chromium${chromiumPresent ? '' : ` (skipped: ${chromiumSkipReason})`}`, () => {
  let harness: Harness;
  let server: Listening;
  let browser: Browser;
  let origin: string;

  beforeAll(async () => {
    harness = createHarness({ env: { ADMIN_TOKEN: TOKEN } });
    server = await listen(harness);
    origin = new URL(server.url).origin;
    // Under the request blocking below: no name resolves but the server's.
    browser = await launchLoopbackChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  interface Opened extends IsolatedContext {
    readonly page: Page;
    /** Script errors, and the console's errors (a refused resource, a CSP violation among them). */
    readonly problems: string[];
  }

  /** The dashboard, in an isolated context. */
  async function openDashboard(viewport: { width: number; height: number }): Promise<Opened> {
    const { context, requested, blocked } = await isolatedContext(browser, { viewport });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => void (message.type() === 'error' && problems.push(message.text())));
    page.on('dialog', (dialog) => void dialog.accept());
    await page.goto(`${origin}/dashboard?intervalMs=200`);
    await page.waitForSelector('#connection[data-state="live"]');
    return { context, page, problems, requested, blocked };
  }

  /** Nothing went wrong in the page, and no request left 127.0.0.1. */
  async function closeCleanly({ context, problems, requested, blocked }: Opened): Promise<void> {
    await context.close();
    expect(problems).toEqual([]);
    expect(blocked).toEqual([]);
    expect(requested.length).toBeGreaterThan(0);
    expect(requested.filter((request) => !request.includes(`//127.0.0.1:`))).toEqual([]);
  }

  const generate = async (prompt: string) => dataOf(await postOperation(fetch, server.url, GenerationDocument, { input: { prompt } })).generation!.key;
  const stat = (page: Page, id: string) => page.locator(`[data-stat="${id}"] .value`);
  type Summary = Record<string, { latest: number | null; peak: number | null }>;
  const summary = async (page: Page, chart: string) => JSON.parse((await page.locator(`[data-chart="${chart}"]`).getAttribute('data-summary')) ?? '{}') as Summary;
  const pixels = (page: Page, chart: string) => page.locator(`[data-chart="${chart}"] canvas`).first().evaluate((canvas: HTMLCanvasElement) => canvas.toDataURL());

  it('charts live statistics; with the token, shows entries and events, changes the limits and clears the cache', async () => {
    const opened = await openDashboard({ width: 1280, height: 800 });
    const { page } = opened;
    await expect.poll(() => stat(page, 'hits').textContent()).toBe('0');
    expect(await page.locator('#admin-controls').isHidden()).toBe(true);
    expect(await page.locator('#token-form').isVisible()).toBe(true);
    await page.waitForFunction(() => Number(document.querySelector('[data-chart="hitRate"]')?.getAttribute('data-points')) >= 2);
    const before = await pixels(page, 'hitRate');

    // Three misses, then three hits.
    for (const prompt of ['alpha', 'beta', 'gamma', 'alpha', 'beta', 'alpha']) await generate(prompt);

    await expect.poll(() => stat(page, 'hits').textContent()).toBe('3');
    expect(await stat(page, 'misses').textContent()).toBe('3');
    expect(await stat(page, 'entries').textContent()).toBe('3');
    expect(await stat(page, 'hitRate').textContent()).toBe('50 %');
    await expect.poll(async () => (await summary(page, 'entries'))['entries']?.latest).toBe(3);
    await expect.poll(async () => (await summary(page, 'hitRate'))['hit rate']?.latest).toBe(50);
    const rates = await summary(page, 'rates');
    expect(rates['hits/s']?.peak).toBeGreaterThan(0);
    expect(rates['misses/s']?.peak).toBeGreaterThan(0);
    expect((await summary(page, 'bytes'))['max bytes']?.latest).toBe(harness.cache.settings.maxBytes);
    expect(await pixels(page, 'hitRate')).not.toBe(before);

    // The token, entered once.
    await page.fill('#token-input', TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#admin-controls', { state: 'visible' });
    expect(await page.locator('#token-form').isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('gencache.adminToken'))).toBe(TOKEN);
    await expect.poll(() => page.locator('#largest-entries tbody tr').count()).toBe(3);
    await page.waitForSelector('#events-state:text("live")');

    const key = await generate('delta');
    const set = page.locator('#events li[data-type="SET"]').first();
    await set.waitFor();
    expect(await set.locator('.key').getAttribute('title')).toBe(key);
    await expect.poll(() => page.locator('#recent-entries tbody tr').first().locator('.key').getAttribute('title')).toBe(key);

    // A little more traffic, for the screenshot's charts.
    for (let i = 0; i < 12; i++) {
      await generate(`prompt ${i % 5}`);
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    await expect.poll(() => stat(page, 'entries').textContent()).toBe('9');
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    await page.fill('#config-form input[name="maxEntries"]', '500');
    await page.click('#config-form button[type="submit"]');
    await page.waitForSelector('#action-status:text("Limits saved")');
    expect(dataOf(await harness.execute(CacheConfigDocument)).cacheConfig.maxEntries).toBe(500);
    await page.locator('#events li[data-type="CONFIG"]').first().waitFor();

    await page.click('#clear-cache');
    await page.waitForSelector('#action-status:text("Cleared: 9 entries removed")');
    expect(dataOf(await harness.execute(CacheStatsDocument)).cacheStats.entries).toBe(0);
    await page.locator('#events li[data-type="CLEAR"]').first().waitFor();
    await expect.poll(() => stat(page, 'entries').textContent()).toBe('0');
    await expect.poll(() => page.locator('#largest-entries tbody td.empty').count()).toBe(1);

    await closeCleanly(opened);
  }, 90_000);

  it("opens from the link in GraphiQL's title", async () => {
    const { context, requested, blocked } = await isolatedContext(browser, { viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(server.url);
    const link = page.locator('a[href="/dashboard"]', { hasText: 'dashboard' });
    await link.waitFor({ timeout: 30_000 });
    expect(await page.title()).toBe('gencache');

    await link.click();
    await page.waitForSelector('#connection[data-state="live"]');
    expect(new URL(page.url()).pathname).toBe('/dashboard');
    await context.close();
    expect(blocked).toEqual([]);
    expect(requested.filter((request) => !request.includes('//127.0.0.1:'))).toEqual([]);
  }, 60_000);

  it('hides the admin controls for a wrong token', async () => {
    const opened = await openDashboard({ width: 1280, height: 800 });
    const { page } = opened;
    await page.waitForSelector('#admin-status:text("Enter the admin token")');
    await page.fill('#token-input', 'not-the-token');
    await page.click('#token-form button[type="submit"]');

    await page.waitForSelector('#admin-status:text("The token was refused.")');
    expect(await page.locator('#admin-controls').isHidden()).toBe(true);
    expect(await page.evaluate(() => sessionStorage.getItem('gencache.adminToken'))).toBeNull();
    await closeCleanly(opened);
  }, 60_000);

  it("fits a phone's width: nothing scrolls sideways but the tables in their boxes", async () => {
    for (const prompt of ['a phone', 'a longer prompt that would be wide in a table cell of a narrow screen']) await generate(prompt);
    const opened = await openDashboard({ width: 375, height: 812 });
    const { page } = opened;
    await page.fill('#token-input', TOKEN);
    await page.click('#token-form button[type="submit"]');
    await page.waitForSelector('#admin-controls', { state: 'visible' });
    await expect.poll(() => page.locator('#largest-entries tbody tr td.key').count()).toBeGreaterThanOrEqual(2);

    const widths = await page.evaluate(() => ({
      page: document.documentElement.scrollWidth,
      viewport: document.documentElement.clientWidth,
      widest: Math.max(...[...document.querySelectorAll('main > *, .chart canvas, .numbers > *, .table-wrap, #events li')].map((element) => element.getBoundingClientRect().right)),
    }));
    expect(widths.page).toBeLessThanOrEqual(widths.viewport);
    expect(widths.widest).toBeLessThanOrEqual(widths.viewport);
    await closeCleanly(opened);
  }, 60_000);
});
