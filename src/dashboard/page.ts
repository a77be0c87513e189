import type { DashboardSettings } from './client.js';

/** Where the page finds its parts; every one is served by src/plugins/use-dashboard.ts. */
export interface DashboardPageLinks {
  readonly script: string;
  readonly styles: readonly string[];
  readonly icon: string;
  readonly graphiql: string;
}

/** The id of the element that carries the settings as JSON; the script reads it. */
export const SETTINGS_ELEMENT_ID = 'dashboard-settings';

const NUMBERS: readonly (readonly [id: string, label: string])[] = [
  ['hitRate', 'Hit rate'],
  ['entries', 'Entries'],
  ['bytes', 'Bytes'],
  ['hits', 'Hits'],
  ['misses', 'Misses'],
  ['coalesced', 'Coalesced'],
  ['evictions', 'Evictions'],
  ['inFlight', 'In flight'],
  ['queued', 'Queued'],
  ['saved', 'Generator time saved'],
];

const CHARTS: readonly (readonly [id: string, title: string])[] = [
  ['hitRate', 'Hit rate'],
  ['entries', 'Entries against maxEntries'],
  ['bytes', 'Bytes against maxBytes'],
  ['rates', 'Hits, misses, coalesced and evictions per second'],
  ['generations', 'Generations in flight and queued'],
  ['saved', 'Generator time saved'],
];

const ENTRY_COLUMNS = ['Key', 'Model', 'Prompt', 'Bytes', 'Hits', 'Last used'];

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);

/**
 * JSON inside a `<script type="application/json">`, which the browser never runs (so a
 * Content-Security-Policy of 'self' allows it): `<` is escaped so that no text ends the element.
 */
const jsonData = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

function entriesTable(id: string, title: string): string {
  return `<section class="entries">
          <h3>${title} <small id="${id}-count"></small></h3>
          <div class="table-wrap">
            <table id="${id}">
              <thead><tr>${ENTRY_COLUMNS.map((column) => `<th scope="col">${column}</th>`).join('')}</tr></thead>
              <tbody></tbody>
            </table>
          </div>
        </section>`;
}

/**
 * The dashboard's HTML: no inline script or style, no event handler attribute; the settings
 * (operations and endpoint) travel as a JSON data block.
 */
export function renderDashboardPage(settings: DashboardSettings, links: DashboardPageLinks): string {
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <meta name="referrer" content="no-referrer">
    <title>gencache dashboard</title>
    <link rel="icon" href="${escapeHtml(links.icon)}" type="image/svg+xml">
${links.styles.map((href) => `    <link rel="stylesheet" href="${escapeHtml(href)}">`).join('\n')}
    <script type="application/json" id="${SETTINGS_ELEMENT_ID}">${jsonData(settings)}</script>
    <script type="module" src="${escapeHtml(links.script)}"></script>
  </head>
  <body>
    <header class="bar">
      <h1>gencache <span>dashboard</span></h1>
      <p id="connection" class="connection" data-state="connecting" role="status">connecting…</p>
      <div class="bar-tools">
        <label>Scope
          <select id="scope">
            <option value="INSTANCE">this instance</option>
            <option value="FLEET">fleet</option>
          </select>
        </label>
        <a href="${escapeHtml(links.graphiql)}">GraphiQL</a>
      </div>
    </header>
    <main>
      <section class="numbers" aria-label="Current values">
${NUMBERS.map(
  ([id, label]) => `        <div class="number" data-stat="${id}">
          <span class="label">${label}</span>
          <span class="value">–</span>
          <span class="detail"></span>
        </div>`,
).join('\n')}
      </section>
      <section class="charts" aria-label="The last minutes">
${CHARTS.map(
  ([id, title]) => `        <figure class="chart" data-chart="${id}">
          <figcaption>${title}</figcaption>
          <div class="plot"></div>
        </figure>`,
).join('\n')}
      </section>
      <section class="admin" aria-labelledby="admin-title">
        <div class="admin-head">
          <h2 id="admin-title">Administration</h2>
          <p id="admin-status" role="status">Checking admin access…</p>
        </div>
        <form id="token-form" class="token-form" hidden>
          <label for="token-input">Admin token</label>
          <input id="token-input" type="password" autocomplete="off" spellcheck="false" required>
          <button type="submit">Use token</button>
        </form>
        <div id="admin-controls" hidden>
          <div class="toolbar">
            <button type="button" id="clear-cache" class="danger">Clear cache</button>
            <button type="button" id="forget-token" hidden>Forget token</button>
            <p id="action-status" role="status"></p>
          </div>
          <form id="config-form" class="config-form">
            <fieldset>
              <legend>Limits</legend>
              <label class="check"><input type="checkbox" name="enabled"> Cache enabled</label>
              <label>Max entries <input type="number" name="maxEntries" min="1" max="1000000" step="1" required></label>
              <label>Max bytes <input type="number" name="maxBytes" min="1" step="1" required></label>
              <label>Default TTL, seconds (0: none) <input type="number" name="defaultTtlSeconds" min="0" max="31536000" step="1" required></label>
              <button type="submit">Save limits</button>
            </fieldset>
          </form>
          <div class="tables">
        ${entriesTable('largest-entries', 'Largest entries')}
        ${entriesTable('recent-entries', 'Most recent entries')}
          </div>
          <section class="events">
            <h3>Events <small id="events-state">connecting…</small></h3>
            <p id="events-empty" class="empty">No change of the cache since this page opened.</p>
            <ol id="events"></ol>
          </section>
        </div>
      </section>
    </main>
  </body>
</html>
`;
}
