/// <reference lib="dom" />
import type uPlot from 'uplot';
import type {
  CacheConfigFieldsFragment,
  CacheEntriesQuery,
  CacheEventsSubscription,
  CacheStatsFieldsFragment,
  ClearCacheMutation,
  UpdateCacheConfigMutation,
} from '../generated/graphql.js';

/** The texts of the operations the page sends, each exactly a document of schema/operations' manifest. */
export interface DashboardOperations {
  /** `CacheStatsLive` (subscription, `$intervalMs`, `$scope`). */
  readonly stats: string;
  /** `CacheEvents` (admin subscription). */
  readonly events: string;
  /** `CacheEntries` (admin query): also the probe of admin access. */
  readonly entries: string;
  /** `CacheConfig` (public query). */
  readonly config: string;
  /** `UpdateCacheConfig` (admin mutation). */
  readonly updateConfig: string;
  /** `ClearCache` (admin mutation). */
  readonly clearCache: string;
}

/** What the server writes into the page, as JSON (src/dashboard/assets.ts). */
export interface DashboardSettings {
  readonly graphqlEndpoint: string;
  /** Statistics interval unless the page's URL gives `?intervalMs=` (100 to 60000). */
  readonly intervalMs: number;
  /** How much history the charts keep. */
  readonly windowSeconds: number;
  readonly operations: DashboardOperations;
}

/**
 * The dashboard, in the browser: charts and large numbers fed by the `cacheStats` subscription,
 * and, for an admin, the entries, the `cacheEvents` stream, Clear cache and the limits form.
 *
 * The server serves this function as its own source text (src/dashboard/assets.ts), so that it is
 * typed and compiled with the server and needs no bundler. Hence the one rule of this file: the
 * function is self-contained; it uses only its parameters and the browser's globals, never another
 * binding of this module (type imports are erased).
 *
 * Every operation is a POST of JSON (`Content-Type: application/json`: CSRF prevention lets it
 * through, and only the page's own origin may send it with the admin header). Subscriptions are
 * GraphQL over SSE read from `fetch`'s body, since `EventSource` cannot send the Authorization
 * header. The admin token, entered once, stays in sessionStorage for the tab's life.
 */
export function runDashboard(UPlot: typeof uPlot, settingsElementId: string): void {
  type Stats = CacheStatsFieldsFragment;
  type Entries = CacheEntriesQuery['cacheEntries'];
  type CacheEvent = CacheEventsSubscription['cacheEvents'];
  type Config = CacheConfigFieldsFragment;
  interface Result<TData> {
    data?: TData | null;
    errors?: { message: string; extensions?: { code?: string } }[];
  }
  interface Rates {
    hits: number;
    misses: number;
    coalesced: number;
    evictions: number;
  }
  /** One statistics message, when it came (seconds), and the counters' rates since the previous one. */
  interface Sample {
    t: number;
    stats: Stats;
    rates: Rates | null;
  }
  interface ChartSpec {
    id: string;
    range?: [number, number];
    format: (value: number) => string;
    /** Steps between the y axis' ticks that the format shows exactly (uPlot's own are decimal, fractions too). */
    incrs?: number[];
    series: { label: string; color: string; dash?: number[]; value: (sample: Sample) => number | null }[];
  }
  interface Chart {
    spec: ChartSpec;
    plot: uPlot;
    figure: HTMLElement;
  }
  interface Subscription {
    stop(): void;
  }

  const settings = JSON.parse(document.getElementById(settingsElementId)!.textContent!) as DashboardSettings;
  const { operations } = settings;
  const TOKEN_KEY = 'gencache.adminToken';
  const ADMIN_REFUSALS = ['UNAUTHENTICATED', 'FORBIDDEN'];
  const MAX_EVENTS = 200;
  const ENTRIES_REFRESH_MS = 5000;
  const query = new URLSearchParams(location.search);
  const requestedInterval = Number(query.get('intervalMs'));
  const intervalMs = Number.isInteger(requestedInterval) && requestedInterval >= 100 && requestedInterval <= 60_000 ? requestedInterval : settings.intervalMs;

  // --- formatting ---------------------------------------------------------------------------

  const integer = new Intl.NumberFormat('en');
  const decimal = new Intl.NumberFormat('en', { maximumFractionDigits: 1 });
  const count = (value: number) => integer.format(Math.round(value));
  const percent = (value: number) => `${decimal.format(value)} %`;
  const perSecond = (value: number) => `${decimal.format(value)}/s`;
  function bytes(value: number): string {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let scaled = value;
    let unit = 0;
    while (Math.abs(scaled) >= 1024 && unit < units.length - 1) {
      scaled /= 1024;
      unit++;
    }
    return `${unit === 0 ? count(scaled) : decimal.format(scaled)} ${units[unit]}`;
  }
  function duration(ms: number): string {
    if (ms < 1000) return `${decimal.format(ms)} ms`;
    if (ms < 60_000) return `${decimal.format(ms / 1000)} s`;
    if (ms < 3_600_000) return `${decimal.format(ms / 60_000)} min`;
    return `${decimal.format(ms / 3_600_000)} h`;
  }
  const time = (iso: string) => new Date(iso).toLocaleTimeString();
  const clock = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
  const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

  // --- DOM ----------------------------------------------------------------------------------

  const byId = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
  function element<K extends keyof HTMLElementTagNameMap>(tag: K, text?: string, className?: string): HTMLElementTagNameMap[K] {
    const created = document.createElement(tag);
    if (text !== undefined) created.textContent = text;
    if (className !== undefined) created.className = className;
    return created;
  }
  const connection = byId('connection');
  const scopeSelect = byId<HTMLSelectElement>('scope');
  const adminStatus = byId('admin-status');
  const tokenForm = byId<HTMLFormElement>('token-form');
  const tokenInput = byId<HTMLInputElement>('token-input');
  const forgetToken = byId<HTMLButtonElement>('forget-token');
  const adminControls = byId('admin-controls');
  const actionStatus = byId('action-status');
  const clearButton = byId<HTMLButtonElement>('clear-cache');
  const configForm = byId<HTMLFormElement>('config-form');
  const eventList = byId<HTMLOListElement>('events');

  function setConnection(state: 'connecting' | 'live' | 'error', text: string): void {
    connection.dataset['state'] = state;
    connection.textContent = text;
  }
  function setStat(id: string, value: string, detail = ''): void {
    const card = document.querySelector(`[data-stat="${id}"]`);
    if (card === null) return;
    card.querySelector('.value')!.textContent = value;
    card.querySelector('.detail')!.textContent = detail;
  }

  // --- GraphQL over HTTP and SSE ------------------------------------------------------------

  let token = sessionStorage.getItem(TOKEN_KEY) ?? undefined;
  function headers(accept: string): Record<string, string> {
    return { 'content-type': 'application/json', accept, ...(token !== undefined && { authorization: `Bearer ${token}` }) };
  }
  const codeOf = (result: Result<unknown>) => result.errors?.[0]?.extensions?.code;
  const errorsOf = (result: Result<unknown>) => (result.errors ?? []).map((error) => error.message).join('; ');

  async function request<TData>(document: string, variables?: Record<string, unknown>): Promise<Result<TData>> {
    const response = await fetch(settings.graphqlEndpoint, {
      method: 'POST',
      // application/json: a refusal is a 200 with errors, not an HTTP error for the console.
      headers: headers('application/json'),
      body: JSON.stringify({ query: document, variables }),
    });
    if (!(response.headers.get('content-type') ?? '').includes('json')) throw new Error(`HTTP ${response.status}`);
    return (await response.json()) as Result<TData>;
  }

  /** Reads one SSE response to its end: `next` events are results; `complete` ends it. */
  async function readStream<TData>(
    document: string,
    variables: Record<string, unknown>,
    handlers: { onOpen(): void; onResult(result: Result<TData>): void },
    signal: AbortSignal,
  ): Promise<void> {
    const response = await fetch(settings.graphqlEndpoint, {
      method: 'POST',
      headers: headers('text/event-stream'),
      body: JSON.stringify({ query: document, variables }),
      signal,
    });
    const type = response.headers.get('content-type') ?? '';
    // A request refused before any execution may be answered as JSON.
    if (type.includes('json')) return handlers.onResult((await response.json()) as Result<TData>);
    if (!type.includes('text/event-stream') || response.body === null) throw new Error(`HTTP ${response.status}`);
    handlers.onOpen();
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value.replace(/\r\n?/g, '\n');
        // Nothing more is handed over once stopped, though the chunk read may hold more.
        for (let end = buffer.indexOf('\n\n'); end !== -1 && !signal.aborted; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          let event = 'message';
          const data: string[] = [];
          for (const line of block.split('\n')) {
            if (line.startsWith('event:')) event = line.slice(6).trim();
            else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
          }
          if (event === 'complete') return;
          if (data.length > 0 && (event === 'next' || event === 'message')) handlers.onResult(JSON.parse(data.join('\n')) as Result<TData>);
        }
      }
    } finally {
      void reader.cancel().catch(() => undefined);
    }
  }

  /** A subscription that reconnects, waiting longer after each failure (at most 10 s), until stopped. */
  function subscribe<TData>(
    document: string,
    variables: Record<string, unknown>,
    handlers: { onOpen(): void; onResult(result: Result<TData>): void; onDown(reason: string): void },
  ): Subscription {
    const controller = new AbortController();
    const { signal } = controller;
    void (async () => {
      let backoffMs = 500;
      while (!signal.aborted) {
        let reason = 'the stream ended';
        try {
          await readStream<TData>(
            document,
            variables,
            {
              onOpen: handlers.onOpen,
              onResult(result) {
                // A refusal (too many subscriptions) keeps the backoff growing.
                if (result.errors === undefined) backoffMs = 500;
                handlers.onResult(result);
              },
            },
            signal,
          );
        } catch (error) {
          reason = messageOf(error);
        }
        if (signal.aborted) return;
        handlers.onDown(`${reason}; reconnecting…`);
        await new Promise((resolve) => setTimeout(resolve, backoffMs));
        backoffMs = Math.min(backoffMs * 2, 10_000);
      }
    })();
    return { stop: () => controller.abort() };
  }

  // --- statistics: numbers and charts ---------------------------------------------------------

  const rate = (sample: Sample, key: keyof Rates) => sample.rates?.[key] ?? null;
  const wholeSteps = Array.from({ length: 10 }, (_, power) => [1, 2, 5].map((step) => step * 10 ** power)).flat();
  const binarySteps = Array.from({ length: 45 }, (_, power) => 2 ** power);
  const chartSpecs: ChartSpec[] = [
    { id: 'hitRate', range: [0, 100], format: percent, series: [{ label: 'hit rate', color: '#2e7d32', value: (s) => s.stats.hitRate * 100 }] },
    {
      id: 'entries',
      format: count,
      incrs: wholeSteps,
      series: [
        { label: 'entries', color: '#1565c0', value: (s) => s.stats.entries },
        { label: 'max entries', color: '#90a4ae', dash: [6, 4], value: (s) => s.stats.maxEntries },
      ],
    },
    {
      id: 'bytes',
      format: bytes,
      incrs: binarySteps,
      series: [
        { label: 'bytes', color: '#6a1b9a', value: (s) => s.stats.bytes },
        { label: 'max bytes', color: '#90a4ae', dash: [6, 4], value: (s) => s.stats.maxBytes },
      ],
    },
    {
      id: 'rates',
      format: perSecond,
      series: [
        { label: 'hits/s', color: '#2e7d32', value: (s) => rate(s, 'hits') },
        { label: 'misses/s', color: '#c62828', value: (s) => rate(s, 'misses') },
        { label: 'coalesced/s', color: '#ef6c00', value: (s) => rate(s, 'coalesced') },
        { label: 'evictions/s', color: '#6d4c41', value: (s) => rate(s, 'evictions') },
      ],
    },
    {
      id: 'generations',
      format: count,
      incrs: wholeSteps,
      series: [
        { label: 'in flight', color: '#00838f', value: (s) => s.stats.inFlight },
        { label: 'queued', color: '#ad1457', value: (s) => s.stats.queued },
      ],
    },
    { id: 'saved', format: duration, series: [{ label: 'generator time saved', color: '#2e7d32', value: (s) => s.stats.savedMs }] },
  ];

  const CHART_HEIGHT = () => (window.matchMedia('(max-width: 40rem)').matches ? 150 : 190);
  const axis = { stroke: '#4a5561', grid: { stroke: '#e6e9ed', width: 1 }, ticks: { stroke: '#e6e9ed', width: 1 } };
  const charts: Chart[] = chartSpecs.map((spec) => {
    const figure = document.querySelector<HTMLElement>(`[data-chart="${spec.id}"]`)!;
    const target = figure.querySelector<HTMLElement>('.plot')!;
    const options: uPlot.Options = {
      width: Math.max(target.clientWidth, 200),
      height: CHART_HEIGHT(),
      legend: { live: false },
      // Room on the right for half of the last time label.
      padding: [8, 28, 0, 0],
      cursor: { drag: { x: false, y: false } },
      scales: {
        x: { time: true },
        y: { range: spec.range ?? ((_plot, _min, max) => [0, max > 0 ? max * 1.1 : 1]) },
      },
      axes: [
        { ...axis, space: 70, values: (_plot, splits) => splits.map((seconds) => clock.format(seconds * 1000)) },
        { ...axis, size: 72, values: (_plot, splits) => splits.map(spec.format), ...(spec.incrs && { incrs: spec.incrs }) },
      ],
      series: [
        {},
        ...spec.series.map((series) => ({ label: series.label, stroke: series.color, width: 2, points: { show: false }, ...(series.dash && { dash: series.dash }) })),
      ],
    };
    const plot = new UPlot(options, [[], ...spec.series.map(() => [])], target);
    new ResizeObserver(() => {
      const width = Math.max(target.clientWidth, 200);
      if (width !== plot.width || CHART_HEIGHT() !== plot.height) plot.setSize({ width, height: CHART_HEIGHT() });
    }).observe(target);
    return { spec, plot, figure };
  });

  let samples: Sample[] = [];
  let redraw = 0;
  function draw(): void {
    redraw = 0;
    const times = samples.map((sample) => sample.t);
    for (const { spec, plot, figure } of charts) {
      const columns = spec.series.map((series) => samples.map(series.value));
      plot.setData([times, ...columns]);
      // The latest and the largest value of each series in the window, for a reader or a test.
      const summary = Object.fromEntries(
        spec.series.map((series, index) => {
          const values = columns[index]!.filter((value): value is number => value !== null);
          return [series.label, { latest: values.at(-1) ?? null, peak: values.length > 0 ? Math.max(...values) : null }];
        }),
      );
      figure.dataset['summary'] = JSON.stringify(summary);
      figure.dataset['points'] = String(times.length);
    }
  }

  function showNumbers({ stats, rates }: Sample, scope: string): void {
    const lookups = stats.hits + stats.misses;
    setStat('hitRate', percent(stats.hitRate * 100), `${count(stats.hits)} of ${count(lookups)} lookups`);
    setStat('entries', count(stats.entries), `of ${count(stats.maxEntries)} max`);
    setStat('bytes', bytes(stats.bytes), `of ${bytes(stats.maxBytes)} max (peak ${bytes(stats.peakBytes)})`);
    for (const key of ['hits', 'misses', 'coalesced', 'evictions'] as const) {
      setStat(key, count(stats[key]), rates === null ? '' : perSecond(rates[key]));
    }
    setStat('inFlight', count(stats.inFlight), `${count(stats.generations)} started, ${count(stats.generationErrors)} failed, ${count(stats.cancelled)} cancelled`);
    setStat('queued', count(stats.queued), 'waiting for a generator slot');
    setStat('saved', duration(stats.savedMs), `since ${time(stats.since)}`);
    const tier = stats.sharedTier === null ? '' : stats.sharedTier ? ' · shared tier up' : ' · shared tier down';
    const instances = scope === 'FLEET' ? ` · ${stats.instances} instance${stats.instances === 1 ? '' : 's'}` : '';
    setConnection('live', `live · cache ${stats.enabled ? 'on' : 'off'}${tier}${instances} · every ${intervalMs} ms`);
  }

  let statsSubscription: Subscription | undefined;
  function watchStats(): void {
    statsSubscription?.stop();
    samples = [];
    const scope = scopeSelect.value;
    setConnection('connecting', 'connecting…');
    statsSubscription = subscribe<{ cacheStats: Stats }>(operations.stats, { intervalMs, scope }, {
      onOpen: () => undefined,
      onDown: (reason) => setConnection('error', reason),
      onResult(result) {
        const stats = result.data?.cacheStats;
        if (stats == null) return setConnection('error', errorsOf(result) || 'no statistics');
        const t = Date.now() / 1000;
        const previous = samples.at(-1);
        let rates: Rates | null = null;
        if (previous !== undefined && t > previous.t) {
          const dt = t - previous.t;
          // A reset of the statistics makes counters go back: no negative rates.
          const per = (key: keyof Rates) => Math.max(0, stats[key] - previous.stats[key]) / dt;
          rates = { hits: per('hits'), misses: per('misses'), coalesced: per('coalesced'), evictions: per('evictions') };
        }
        const sample = { t, stats, rates };
        samples.push(sample);
        const oldest = t - settings.windowSeconds;
        while (samples.length > 0 && samples[0]!.t < oldest) samples.shift();
        showNumbers(sample, scope);
        redraw ||= requestAnimationFrame(draw);
      },
    });
  }
  const initialScope = query.get('scope');
  if (initialScope === 'INSTANCE' || initialScope === 'FLEET') scopeSelect.value = initialScope;
  scopeSelect.addEventListener('change', watchStats);
  watchStats();

  // --- administration -----------------------------------------------------------------------

  let admin: 'unknown' | 'granted' | 'refused' = 'unknown';
  let eventsSubscription: Subscription | undefined;
  let entriesTimer: ReturnType<typeof setInterval> | undefined;

  function setAction(text: string, failed = false): void {
    actionStatus.textContent = text;
    actionStatus.classList.toggle('failed', failed);
  }

  function showEntries(tableId: string, entries: Entries): void {
    const table = byId<HTMLTableElement>(tableId);
    byId(`${tableId}-count`).textContent = `${count(entries.edges.length)} of ${count(entries.totalCount)}`;
    const body = table.tBodies[0]!;
    body.replaceChildren(
      ...entries.edges.map(({ node }) => {
        const row = element('tr');
        const key = element('td', node.key.slice(0, 12), 'key');
        key.title = node.key;
        const prompt = element('td', node.prompt, 'prompt');
        prompt.title = node.prompt;
        row.append(key, element('td', node.model), prompt, element('td', bytes(node.bytes), 'numeric'), element('td', count(node.hits), 'numeric'), element('td', time(node.lastAccessedAt)));
        return row;
      }),
    );
    if (entries.edges.length === 0) {
      const empty = element('td', 'The cache is empty.', 'empty');
      empty.colSpan = 6;
      const row = element('tr');
      row.append(empty);
      body.append(row);
    }
  }

  let refreshing: Promise<void> | undefined;
  let refreshAgain = false;
  /** Both entry tables; a call while one runs makes one more run after it, not one each. */
  function refreshEntries(): void {
    if (refreshing !== undefined) {
      refreshAgain = true;
      return;
    }
    refreshing = (async () => {
      const [largest, recent] = await Promise.all([
        request<CacheEntriesQuery>(operations.entries, { first: 10, orderBy: 'LARGEST' }),
        request<CacheEntriesQuery>(operations.entries, { first: 10, orderBy: 'MOST_RECENT' }),
      ]);
      for (const result of [largest, recent]) if (refused(result)) return;
      if (largest.data) showEntries('largest-entries', largest.data.cacheEntries);
      if (recent.data) showEntries('recent-entries', recent.data.cacheEntries);
    })()
      .catch((error: unknown) => setAction(`Entries: ${messageOf(error)}`, true))
      .finally(() => {
        refreshing = undefined;
        if (refreshAgain && admin === 'granted') {
          refreshAgain = false;
          refreshEntries();
        }
      });
  }

  function showConfig(config: Config): void {
    // Not while the operator is editing it.
    if (configForm.contains(document.activeElement)) return;
    const field = (name: string) => configForm.elements.namedItem(name) as HTMLInputElement;
    field('enabled').checked = config.enabled;
    field('maxEntries').value = String(config.maxEntries);
    field('maxBytes').value = String(config.maxBytes);
    field('defaultTtlSeconds').value = String(config.defaultTtlSeconds);
  }

  function describeEvent(event: CacheEvent): string {
    const parts: string[] = [];
    if (event.model !== null) parts.push(event.model);
    if (event.type === 'CLEAR' && event.removed !== null) parts.push(`${count(event.removed)} removed`);
    if (event.bytes !== null) parts.push(bytes(event.bytes));
    if (event.reason !== null) parts.push(event.reason);
    if (event.config !== null) {
      const { enabled, maxEntries, maxBytes, defaultTtlSeconds } = event.config;
      parts.push(`${enabled ? 'on' : 'off'}, ${count(maxEntries)} entries, ${bytes(maxBytes)}, TTL ${defaultTtlSeconds ? `${count(defaultTtlSeconds)} s` : 'none'}`);
    }
    return parts.join(' · ');
  }

  function showEvent(event: CacheEvent): void {
    const item = element('li');
    item.dataset['type'] = event.type;
    const at = element('time', time(event.at));
    at.dateTime = event.at;
    const key = element('span', event.key === null ? '' : event.key.slice(0, 12), 'key');
    if (event.key !== null) key.title = event.key;
    item.append(at, element('span', event.type, 'type'), key, element('span', describeEvent(event), 'detail'), element('span', event.instance, 'instance'));
    eventList.prepend(item);
    while (eventList.children.length > MAX_EVENTS) eventList.lastElementChild!.remove();
    byId('events-empty').hidden = true;
    if (event.type === 'CONFIG' && event.config !== null) showConfig(event.config);
    if (event.type !== 'CONFIG') refreshEntries();
  }

  function grant(): void {
    if (admin === 'granted') return;
    admin = 'granted';
    adminControls.hidden = false;
    tokenForm.hidden = true;
    forgetToken.hidden = token === undefined;
    adminStatus.textContent = token === undefined ? 'Admin: a client on the server’s machine (no token set).' : 'Admin: with your token.';
    eventsSubscription = subscribe<CacheEventsSubscription>(operations.events, {}, {
      onOpen: () => byId('events-state').replaceChildren('live'),
      onDown: (reason) => byId('events-state').replaceChildren(reason),
      onResult(result) {
        if (refused(result)) return;
        if (result.data) showEvent(result.data.cacheEvents);
        else byId('events-state').replaceChildren(errorsOf(result));
      },
    });
    entriesTimer = setInterval(refreshEntries, ENTRIES_REFRESH_MS);
    void request<{ cacheConfig: Config }>(operations.config).then((result) => result.data && showConfig(result.data.cacheConfig));
    refreshEntries();
  }

  function refuse(code: string, tokenRefused = false): void {
    admin = 'refused';
    adminControls.hidden = true;
    eventsSubscription?.stop();
    eventsSubscription = undefined;
    clearInterval(entriesTimer);
    // Without a token on the server, admin is for this machine's clients: a token cannot help.
    tokenForm.hidden = code === 'FORBIDDEN';
    forgetToken.hidden = true;
    adminStatus.textContent =
      code === 'FORBIDDEN'
        ? 'Admin is open only to clients on the server’s machine (the server has no ADMIN_TOKEN).'
        : tokenRefused
          ? 'The token was refused.'
          : 'Enter the admin token to see entries and events, clear the cache and change its limits.';
  }

  /** Whether the result is an admin refusal; if so, the controls are hidden. */
  function refused(result: Result<unknown>): boolean {
    const code = codeOf(result);
    if (code === undefined || !ADMIN_REFUSALS.includes(code)) return false;
    const tokenRefused = token !== undefined;
    // A refused token is forgotten: the next request goes without it.
    if (tokenRefused) sessionStorage.removeItem(TOKEN_KEY);
    token = undefined;
    refuse(code, tokenRefused);
    return true;
  }

  /** Whether this page may use the admin surface: an admin query answers, or is refused. */
  async function probeAdmin(): Promise<void> {
    adminStatus.textContent = 'Checking admin access…';
    try {
      const result = await request<CacheEntriesQuery>(operations.entries, { first: 10, orderBy: 'LARGEST' });
      if (refused(result)) return;
      if (result.errors !== undefined) {
        adminStatus.textContent = `Admin check failed: ${errorsOf(result)}`;
        return;
      }
      grant();
    } catch (error) {
      adminStatus.textContent = `Admin check failed: ${messageOf(error)}`;
    }
  }

  tokenForm.addEventListener('submit', (submitted) => {
    submitted.preventDefault();
    const entered = tokenInput.value.trim();
    if (entered === '') return;
    token = entered;
    sessionStorage.setItem(TOKEN_KEY, entered);
    tokenInput.value = '';
    void probeAdmin();
  });

  forgetToken.addEventListener('click', () => {
    sessionStorage.removeItem(TOKEN_KEY);
    token = undefined;
    refuse('UNAUTHENTICATED');
    void probeAdmin();
  });

  clearButton.addEventListener('click', () => {
    if (!confirm('Remove every entry of the cache?')) return;
    clearButton.disabled = true;
    setAction('Clearing…');
    request<ClearCacheMutation>(operations.clearCache)
      .then((result) => {
        if (refused(result)) return;
        const cleared = result.data?.clearCache;
        if (cleared == null) return setAction(`Clear cache failed: ${errorsOf(result)}`, true);
        const shared = cleared.shared === null ? '' : `; shared tier: ${count(cleared.shared.removed)} removed`;
        setAction(`Cleared: ${count(cleared.removed)} entries removed, ${bytes(cleared.freedBytes)} freed${shared}.`);
        refreshEntries();
      })
      .catch((error: unknown) => setAction(`Clear cache failed: ${messageOf(error)}`, true))
      .finally(() => (clearButton.disabled = false));
  });

  configForm.addEventListener('submit', (submitted) => {
    submitted.preventDefault();
    const field = (name: string) => configForm.elements.namedItem(name) as HTMLInputElement;
    const input = {
      enabled: field('enabled').checked,
      maxEntries: Number(field('maxEntries').value),
      maxBytes: Number(field('maxBytes').value),
      defaultTtlSeconds: Number(field('defaultTtlSeconds').value),
    };
    setAction('Saving limits…');
    request<UpdateCacheConfigMutation>(operations.updateConfig, { input })
      .then((result) => {
        if (refused(result)) return;
        const config = result.data?.updateCacheConfig;
        if (config == null) return setAction(`Limits not changed: ${errorsOf(result)}`, true);
        (document.activeElement as HTMLElement | null)?.blur();
        showConfig(config);
        setAction(`Limits saved: ${count(config.maxEntries)} entries, ${bytes(config.maxBytes)}.`);
      })
      .catch((error: unknown) => setAction(`Limits not changed: ${messageOf(error)}`, true));
  });

  void probeAdmin();
}
