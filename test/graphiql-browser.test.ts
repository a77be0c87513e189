import { print } from 'graphql';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumPresent, chromiumSkipReason, launchChromium } from './helpers/chromium.js';
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

describe.skipIf(!chromiumPresent)(`GraphiQL in Chromium${chromiumPresent ? '' : ` (skipped: ${chromiumSkipReason})`}`, () => {
  let harness: Harness;
  let server: Listening;
  let browser: Browser;

  beforeAll(async () => {
    harness = createHarness({ env: { ADMIN_TOKEN: TOKEN } });
    server = await listen(harness);
    browser = await launchChromium(
      // Under the request blocking below: no name resolves but the server's.
      'MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
    );
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
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url.origin });
    const requested: string[] = [];
    const blocked: string[] = [];
    await context.route('**/*', (route) => {
      const target = new URL(route.request().url());
      requested.push(`${route.request().method()} ${target.href}`);
      if (target.hostname === '127.0.0.1') return route.continue();
      blocked.push(target.href);
      return route.abort('blockedbyclient');
    });
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
});
