import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions } from 'playwright-core';

/** Debian's Chromium: a browser download never works here. */
export const CHROMIUM = '/usr/bin/chromium';

/** Whether Chromium is installed; under CI it must be (.ci/run installs it), so its absence throws. */
export const chromiumPresent = existsSync(CHROMIUM);
if (!chromiumPresent && process.env['CI']) {
  throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package before the tests`);
}

/** Why a browser test is skipped where Chromium is missing. */
export const chromiumSkipReason = `${CHROMIUM} is not installed (apt-get install -y chromium); CI installs it and runs this test`;

/**
 * Headless Chromium with no network of its own: no background connections (this machine's
 * network is closed), and only the names the rules map resolve (`MAP name 127.0.0.1 , ...`).
 */
export function launchChromium(hostResolverRules: string): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      `--host-resolver-rules=${hostResolverRules}`,
    ],
  });
}

/** Chromium in which no name resolves but 127.0.0.1, for pages whose every request must stay on this machine. */
export const launchLoopbackChromium = (): Promise<Browser> => launchChromium('MAP * ~NOTFOUND , EXCLUDE 127.0.0.1');

/** A browser context, and the requests of its pages: each one (`METHOD url`), and those refused. */
export interface IsolatedContext {
  readonly context: BrowserContext;
  readonly requested: string[];
  readonly blocked: string[];
}

/**
 * A new context whose every request outside 127.0.0.1 is refused; both kinds are noted. Routing
 * turns the browser's HTTP cache off: a test of caching uses a plain context.
 */
export async function isolatedContext(browser: Browser, options: BrowserContextOptions): Promise<IsolatedContext> {
  const context = await browser.newContext(options);
  const requested: string[] = [];
  const blocked: string[] = [];
  await context.route('**/*', (route) => {
    const target = new URL(route.request().url());
    requested.push(`${route.request().method()} ${target.href}`);
    if (target.hostname === '127.0.0.1') return route.continue();
    blocked.push(target.href);
    return route.abort('blockedbyclient');
  });
  return { context, requested, blocked };
}
