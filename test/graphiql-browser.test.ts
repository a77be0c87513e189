import type { IncomingMessage, ServerResponse } from 'node:http';
import { print } from 'graphql';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPresent, chromiumSkipReason, isolatedContext, launchLoopbackChromium } from './helpers/chromium.js';
import { ClearCacheDocument, GenerationDocument } from '../src/generated/graphql.js';
import { createHarness, dataOf, listen, type Harness, type Listening } from './helpers/harness.js';

const TOKEN = 'an-admin-token-of-some-length';

/** Replaces a Monaco editor's content as a paste would: typing is auto-closed and auto-indented. */
async function setEditorText(page: Page, editor: Locator, text: string): Promise<void> {
  await page.evaluate((value) => navigator.clipboard.writeText(value), text);
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('ControlOrMeta+V');
}

/** A Monaco editor's whole content, through the clipboard: its DOM lines are virtualised and wrapped. */
async function editorText(page: Page, editor: Locator): Promise<string> {
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('ControlOrMeta+C');
  return page.evaluate(() => navigator.clipboard.readText());
}

/**
 * Records in the page, in milliseconds from the start of the navigation, when the query editor is
 * up with the example's tab (`__editorUpAt`), and when it first shows the example query
 * (`__editorReadyAt`), checked every 20 ms. A string: a compiled function could call helpers of
 * the test's module, which the page does not have.
 *
 * A reload waits for the first only: GraphiQL 5, reloaded before anything wrote its editor
 * storage keys (they are written on edits), opens an empty `<untitled>` tab beside the restored
 * one (graphql/graphiql#4472), which a busy machine shows.
 */
const RECORD_EDITOR_READY = `(() => {
  const check = () => {
    const editor = document.querySelector('.graphiql-query-editor .view-lines');
    const tabs = document.querySelector('.graphiql-tabs')?.textContent ?? '';
    if (editor && tabs.includes('Example')) window.__editorUpAt ??= performance.now();
    const text = editor?.textContent ?? '';
    if (text.replace(/\\s/g, ' ').includes('Write a haiku about caching')) window.__editorReadyAt = performance.now();
    else setTimeout(check, 20);
  };
  // Timers rather than animation frames, which a browser may hold back for a page it deems hidden.
  setTimeout(check, 20);
})()`;

interface PageTimings {
  /** From the start of the navigation: the editor shows the example query, or is up (see RECORD_EDITOR_READY). */
  readonly editorReady: number;
  readonly responseEnd: number;
  readonly domContentLoaded: number;
  /** Bytes on the wire (headers too), the body as sent, and the body decoded. */
  readonly transferSize: number;
  readonly encodedBodySize: number;
  readonly decodedBodySize: number;
}

/** Waits for the editor to show the example query (`ready`), or to be up; the navigation's timings. */
async function timingsOf(page: Page, mark: 'ready' | 'up' = 'ready'): Promise<PageTimings> {
  const name = mark === 'ready' ? '__editorReadyAt' : '__editorUpAt';
  await page.waitForFunction(`window.${name} !== undefined`, undefined, { timeout: 60_000 });
  return page.evaluate(`(() => {
    const navigation = performance.getEntriesByType('navigation')[0];
    return {
      editorReady: Math.round(window.${name}),
      responseEnd: Math.round(navigation.responseEnd),
      domContentLoaded: Math.round(navigation.domContentLoadedEventEnd),
      transferSize: navigation.transferSize,
      encodedBodySize: navigation.encodedBodySize,
      decodedBodySize: navigation.decodedBodySize,
    };
  })()`);
}

describe.skipIf(!chromiumPresent)(`GraphiQL in Chromium${chromiumPresent ? '' : ` (skipped: ${chromiumSkipReason})`}`, () => {
  let harness: Harness;
  let server: Listening;
  let browser: Browser;

  beforeAll(async () => {
    harness = createHarness({ env: { ADMIN_TOKEN: TOKEN } });
    server = await listen(harness);
    // Under the request blocking below: no name resolves but the server's.
    browser = await launchLoopbackChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('serves every asset locally, opens on the example query, and runs clearCache with the admin header', async () => {
    for (const prompt of ['one', 'two']) {
      dataOf(await harness.execute(GenerationDocument, { input: { prompt } }));
    }
    const url = new URL(server.url);
    const { context, requested, blocked } = await isolatedContext(browser, { viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url.origin });
    const page = await context.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));

    await page.goto(url.href);
    const queryEditor = page.locator('.graphiql-query-editor .monaco-editor');
    await queryEditor.waitFor({ timeout: 30_000 });
    expect(await page.title()).toBe('gencache');
    expect(await editorText(page, queryEditor)).toContain('Write a haiku about caching');

    await setEditorText(page, queryEditor, print(ClearCacheDocument));
    await page.locator('.graphiql-editor-tools button[data-name="headers"]').click();
    const headersEditor = page.locator('.graphiql-editor-tool .monaco-editor[data-uri$="request-headers.json"]');
    await headersEditor.waitFor();
    await setEditorText(page, headersEditor, JSON.stringify({ Authorization: `Bearer ${TOKEN}` }, null, 2));
    const response = page.waitForResponse(
      (candidate) => candidate.request().method() === 'POST' && (candidate.request().postData() ?? '').includes('clearCache'),
    );
    await page.locator('button.graphiql-execute-button').click();
    expect((await response).request().headers()['authorization']).toBe(`Bearer ${TOKEN}`);
    await page.waitForFunction(() =>
      /"(data|errors)"/.test(document.querySelector('.graphiql-response .view-lines')?.textContent ?? ''),
    );
    const shown = JSON.parse(await editorText(page, page.locator('.graphiql-response .monaco-editor'))) as unknown;

    expect(shown).toEqual({ data: { clearCache: { removed: 2, freedBytes: expect.any(Number), shared: null } } });
    expect(harness.service.stats().entries).toBe(0);
    expect(blocked).toEqual([]);
    expect(requested.every((request) => request.includes('//127.0.0.1:'))).toBe(true);
    expect(pageErrors).toEqual([]);
    await context.close();
  }, 90_000);
  it('arrives compressed, is usable in a measured time, and revalidates with 304 on reload', async () => {
    const answered: { ifNoneMatch: string | undefined; status: number }[] = [];
    const record = (req: IncomingMessage, res: ServerResponse) => {
      if (req.method !== 'GET' || new URL(req.url ?? '/', 'http://x').pathname !== '/graphql') return;
      res.once('finish', () => answered.push({ ifNoneMatch: req.headers['if-none-match'], status: res.statusCode }));
    };
    harness.server.on('request', record);
    // No request routing here: Playwright's routing turns the HTTP cache off.
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const page = await context.newPage();
      const pageErrors: string[] = [];
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.addInitScript(RECORD_EDITOR_READY);

      const response = (await page.goto(server.url))!;
      const firstView = await timingsOf(page);
      const reloaded = (await page.reload())!;
      const reload = await timingsOf(page, 'up');

      const acceptEncoding = (await response.request().allHeaders())['accept-encoding'];
      const { 'content-encoding': contentEncoding, etag } = await response.allHeaders();
      console.log(
        `GraphiQL in Chromium: editor ready ${firstView.editorReady} ms after navigation start ` +
          `(response end ${firstView.responseEnd} ms, DOMContentLoaded ${firstView.domContentLoaded} ms), ` +
          `${firstView.encodedBodySize} bytes of ${contentEncoding} for ${firstView.decodedBodySize} of page ` +
          `(Accept-Encoding: ${acceptEncoding}); on reload, revalidated: editor up ${reload.editorReady} ms, ${reload.transferSize} bytes transferred`,
      );
      expect(['br', 'gzip']).toContain(contentEncoding);
      expect(firstView.encodedBodySize).toBeLessThan(firstView.decodedBodySize / 3);
      expect(answered).toEqual([
        { ifNoneMatch: undefined, status: 200 },
        { ifNoneMatch: etag, status: 304 },
      ]);
      expect(reload.decodedBodySize).toBe(firstView.decodedBodySize);
      expect(reload.transferSize).toBeLessThan(2_000);
      expect(reloaded.ok()).toBe(true);
      expect(pageErrors).toEqual([]);
    } finally {
      harness.server.off('request', record);
      await context.close();
    }
  }, 90_000);
});
