import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { TypedDocumentNode } from '@graphql-typed-document-node/core';
import {
  CacheConfigDocument,
  CacheEntriesDocument,
  CacheEventsDocument,
  CacheStatsLiveDocument,
  ClearCacheDocument,
  UpdateCacheConfigDocument,
} from '../generated/graphql.js';
import manifest from '../generated/persisted-documents.json' with { type: 'json' };
import { runDashboard, type DashboardOperations, type DashboardSettings } from './client.js';
import { renderDashboardPage, SETTINGS_ELEMENT_ID } from './page.js';
import { DASHBOARD_CSS } from './styles.js';

/** One response body of the dashboard, with what its headers need. */
export interface DashboardAsset {
  readonly body: string;
  readonly contentType: string;
  /** A strong validator of the body, for `If-None-Match`. */
  readonly etag: string;
}

export interface DashboardAssetOptions {
  /** Path of the page; the assets are under `<path>/assets/`. */
  readonly path: string;
  readonly graphqlEndpoint: string;
  readonly intervalMs: number;
  readonly windowSeconds: number;
}

const require = createRequire(import.meta.url);

/** Three bars of a chart: the page's icon, so that the browser does not ask for /favicon.ico. */
const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1565c0"/><rect x="3" y="8" width="2.5" height="5" fill="#fff"/><rect x="6.75" y="5" width="2.5" height="8" fill="#fff"/><rect x="10.5" y="3" width="2.5" height="10" fill="#fff"/></svg>
`;

/**
 * The text of a document as the manifest of trusted documents has it (src/generated/
 * persisted-documents.json): a server with TRUSTED_DOCUMENTS=1 runs that text, character for
 * character, and no other (src/plugins/use-trusted-documents.ts); any server runs it.
 */
function trustedText(document: TypedDocumentNode<unknown, never>): string {
  const id = (document as { __meta__?: { hash?: string } }).__meta__?.hash;
  const text = id === undefined ? undefined : (manifest as Readonly<Record<string, string>>)[id];
  if (text === undefined) throw new TypeError(`the dashboard's operation ${JSON.stringify(id)} is not in the trusted documents manifest: run npm run generate`);
  return text;
}

const operations = (): DashboardOperations => ({
  stats: trustedText(CacheStatsLiveDocument),
  events: trustedText(CacheEventsDocument),
  entries: trustedText(CacheEntriesDocument),
  config: trustedText(CacheConfigDocument),
  updateConfig: trustedText(UpdateCacheConfigDocument),
  clearCache: trustedText(ClearCacheDocument),
});

/** The ES module build of uPlot, and its stylesheet, as the installed package has them. */
async function readUPlot(): Promise<{ script: string; styles: string }> {
  const [script, styles] = await Promise.all([
    readFile(require.resolve('uplot/dist/uPlot.esm.js'), 'utf8'),
    readFile(require.resolve('uplot/dist/uPlot.min.css'), 'utf8'),
  ]);
  return { script, styles };
}

const asset = (body: string, contentType: string): DashboardAsset => ({
  body,
  contentType,
  etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
});

/**
 * Every response of the dashboard by pathname: the page (at `path` and `path/`), its script, its
 * styles, and uPlot's module and styles read from node_modules (never a CDN).
 *
 * The script is `runDashboard`'s own source text (src/dashboard/client.ts), called with uPlot's
 * default export. Whoever compiled this module (tsc for dist/, tsx or vitest from source) compiled
 * that function too, so its text is JavaScript; esbuild's `keepNames` (tsx) may wrap inner functions
 * in a `__name` helper, which the script therefore defines.
 */
export async function loadDashboardAssets({ path, graphqlEndpoint, intervalMs, windowSeconds }: DashboardAssetOptions): Promise<ReadonlyMap<string, DashboardAsset>> {
  const uplot = await readUPlot();
  const assets = `${path}/assets`;
  const links = {
    script: `${assets}/dashboard.js`,
    styles: [`${assets}/uPlot.min.css`, `${assets}/dashboard.css`],
    icon: `${assets}/icon.svg`,
    graphiql: graphqlEndpoint,
  };
  const settings: DashboardSettings = { graphqlEndpoint, intervalMs, windowSeconds, operations: operations() };
  const script = [
    `import uPlot from ${JSON.stringify(`${assets}/uPlot.esm.js`)};`,
    'const __name = (target) => target;',
    `(${runDashboard.toString()})(uPlot, ${JSON.stringify(SETTINGS_ELEMENT_ID)});`,
    '',
  ].join('\n');
  const page = asset(renderDashboardPage(settings, links), 'text/html; charset=utf-8');
  return new Map([
    [path, page],
    [`${path}/`, page],
    [links.script, asset(script, 'text/javascript; charset=utf-8')],
    [`${assets}/dashboard.css`, asset(DASHBOARD_CSS, 'text/css; charset=utf-8')],
    [`${assets}/uPlot.esm.js`, asset(uplot.script, 'text/javascript; charset=utf-8')],
    [`${assets}/uPlot.min.css`, asset(uplot.styles, 'text/css; charset=utf-8')],
    [links.icon, asset(ICON, 'image/svg+xml')],
  ]);
}
