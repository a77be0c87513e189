import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import type { GraphiQLOptions, GraphiQLRenderer, Plugin, PromiseOrValue } from 'graphql-yoga';

/**
 * Brotli quality of the page: 5 makes 1.95 MB of 9 MB in 0.4 s, once; 9 would save 5% more and
 * take 2 s, 11 12% more and take 33 s, all of it waited for by the first page view.
 */
const BROTLI_QUALITY = 5;
/** zlib's default level: 2.44 MB in 0.15 s; level 9 saves 0.4% more in 0.5 s. */
const GZIP_LEVEL = 6;
/**
 * Stored, but revalidated before each use: the page changes with every deploy (the GraphiQL
 * package, the example query), so a max-age would show a stale GraphiQL after one, and the
 * revalidation of an unchanged page costs a round trip and a 304 without a body.
 */
const GRAPHIQL_CACHE_CONTROL = 'no-cache';
/**
 * Yoga answers GraphiQL or GraphQL at the same URL by the Accept header, and this plugin picks the
 * content coding by Accept-Encoding: a cache must tell them apart by both.
 */
const VARY = ['Accept', 'Accept-Encoding'];
/**
 * Where GraphiQL sends its operations, unless its options say: the page's own URL with a query,
 * resolved against it. A POST to the page's URL would make the browser drop the page it stored
 * (RFC 9111, 4.4: a cache invalidates the target of an unsafe request), and GraphiQL POSTs its
 * introspection at every load: the page would be downloaded again at each visit, never revalidated.
 * Yoga answers GraphQL at the endpoint whatever the query string; the fast lane, which takes the
 * endpoint's exact URL only, leaves these to Yoga, at no cost a person typing in GraphiQL notices.
 */
const GRAPHIQL_OPERATIONS_ENDPOINT = '?graphiql';

/** The content codings the page is served in, but identity; the order breaks ties of q-values. */
const CODINGS = ['br', 'gzip'] as const;
type ContentCoding = (typeof CODINGS)[number] | 'identity';

export interface GraphiQLPageOptions {
  /**
   * GraphiQL's options (title, default query…). They are the same for every request: the page is
   * rendered from them once. `endpoint` @default GRAPHIQL_OPERATIONS_ENDPOINT
   */
  readonly options: GraphiQLOptions;
  /** Renders the page; called once, at the first page view (and again only if it failed). */
  readonly render: (options: GraphiQLOptions) => PromiseOrValue<string>;
}

/** What `createYoga` needs for its GraphiQL to be served through the plugin. */
export interface GraphiQLPageYogaOptions {
  /** Yoga's `graphiql` option: the options, given for each request Yoga serves GraphiQL to. */
  readonly graphiql: (request: Request) => GraphiQLOptions;
  /** Yoga's `renderGraphiQL` option: the page's bytes, rendered and encoded once. */
  readonly renderGraphiQL: GraphiQLRenderer;
}

export interface GraphiQLPagePlugin extends Plugin {
  /** To be given to `createYoga` with the plugin in its list: `createYoga({ ...page.yogaOptions })`. */
  readonly yogaOptions: GraphiQLPageYogaOptions;
}

/** One representation of the page: the bytes sent, and their entity tag. */
interface Representation {
  readonly body: Uint8Array<ArrayBuffer>;
  readonly etag: string;
}

/**
 * GraphiQL's page (9 MB of HTML with every asset inlined), compressed and validated: br or gzip as
 * the request's Accept-Encoding prefers them (q-values honoured; identity when it accepts
 * neither), a strong ETag per representation, `Cache-Control: no-cache`, and 304 Not Modified
 * for an If-None-Match that matches.
 *
 * Yoga keeps deciding when GraphiQL is served (a GET to the endpoint that accepts text/html, in
 * its own plugin, before any of ours): it asks the `graphiql` options factory for the options of
 * each request it serves GraphiQL to, which is how the plugin learns which responses are the
 * page; its `onResponse` hook then replaces Yoga's response by the representation negotiated,
 * keeping Yoga's headers (CORS among them). Every other response is left as it is, after one
 * WeakSet lookup.
 *
 * Invariants: the page is rendered once, each representation compressed and hashed at most once
 * (on first demand, on libuv's thread pool), and nothing is computed per request but the
 * negotiation. The ETags: `"<sha-256 of the page>"` for identity, with `-br` or `-gzip` appended
 * for the compressed representations, which are other bytes and so need other strong validators
 * (RFC 9110, 8.8.3.3). The plugin only acts on GETs: the fast lane, which takes JSON POSTs, may
 * leave its hook out.
 */
export function useGraphiQLPage({ options: given, render }: GraphiQLPageOptions): GraphiQLPagePlugin {
  const options: GraphiQLOptions = { endpoint: GRAPHIQL_OPERATIONS_ENDPOINT, ...given };
  /** Requests Yoga is answering with GraphiQL, until their response is replaced. */
  const pageRequests = new WeakSet<Request>();
  const representations = new Map<ContentCoding, Promise<Representation>>();

  /** The representation in that coding, made once; forgotten if it failed, to be tried again. */
  const representation = (coding: ContentCoding): Promise<Representation> => {
    let made = representations.get(coding);
    if (made === undefined) {
      made = coding === 'identity' ? renderPage(options, render) : representation('identity').then((page) => compressed(page, coding));
      representations.set(coding, made);
      made.catch(() => representations.delete(coding));
    }
    return made;
  };

  return {
    yogaOptions: {
      graphiql: (request) => {
        pageRequests.add(request);
        return options;
      },
      renderGraphiQL: () => representation('identity').then((page) => page.body),
    },
    onResponse({ request, response, setResponse, fetchAPI }) {
      // Synchronous for every other response.
      if (!pageRequests.delete(request) || response.status !== 200) return undefined;
      const coding = preferredCoding(request.headers.get('accept-encoding'));
      return representation(coding).then(({ body, etag }) => {
        const notModified = matchesAny(request.headers.get('if-none-match'), etag);
        // Yoga's headers (CORS among them) but those of its body, copied by hand: the ponyfill's
        // Headers, made from another, keep the names' case, and then miss them in delete().
        const headers = new fetchAPI.Headers();
        response.headers.forEach((value, name) => {
          if (!REPLACED_HEADERS.has(name.toLowerCase())) headers.append(name, value);
        });
        headers.set('etag', etag);
        headers.set('cache-control', GRAPHIQL_CACHE_CONTROL);
        headers.set('vary', withVary(response.headers.get('vary')));
        // A 304 carries the validators and caching headers of the 200, but no content metadata.
        if (notModified) return setResponse(new fetchAPI.Response(null, { status: 304, headers }));
        headers.set('content-type', response.headers.get('content-type') ?? 'text/html');
        if (coding !== 'identity') headers.set('content-encoding', coding);
        headers.set('content-length', String(body.byteLength));
        return setResponse(new fetchAPI.Response(body, { status: 200, headers }));
      });
    },
  };
}

async function renderPage(options: GraphiQLOptions, render: GraphiQLPageOptions['render']): Promise<Representation> {
  const body = Buffer.from(await render(options), 'utf8');
  return { body, etag: `"${createHash('sha256').update(body).digest('base64url')}"` };
}

const brotli = promisify(brotliCompress);
const gzipped = promisify(gzip);

async function compressed(page: Representation, coding: Exclude<ContentCoding, 'identity'>): Promise<Representation> {
  const body =
    coding === 'br'
      ? await brotli(page.body, {
          params: {
            [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
            [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
            [constants.BROTLI_PARAM_SIZE_HINT]: page.body.byteLength,
          },
        })
      : await gzipped(page.body, { level: GZIP_LEVEL });
  return { body, etag: `${page.etag.slice(0, -1)}-${coding}"` };
}

/**
 * The coding to send for an Accept-Encoding header (RFC 9110, 12.5.3): the one of highest q-value
 * of br and gzip (`x-gzip` is gzip; `*` stands for every coding not listed), br first on a tie;
 * identity when neither has a q-value above 0, or identity (by name or `*`) is above them. Without the
 * header, identity: a client that sends none (curl, a script) is rarely one that decodes. When
 * identity too is refused (`identity;q=0`, or `*;q=0` without identity), the header is
 * disregarded, as the RFC allows, rather than answered 406: the page is still sent, in identity.
 */
function preferredCoding(acceptEncoding: string | null): ContentCoding {
  if (acceptEncoding === null) return 'identity';
  const weights = new Map<string, number>();
  for (const item of acceptEncoding.split(',')) {
    const [name = '', ...parameters] = item.split(';');
    const coding = name.trim().toLowerCase();
    if (coding === '') continue;
    const q = qValue(parameters);
    // An entry whose q-value does not parse is ignored, as if not listed.
    if (q === undefined) continue;
    const key = coding === 'x-gzip' ? 'gzip' : coding;
    weights.set(key, Math.max(weights.get(key) ?? 0, q));
  }
  const any = weights.get('*');
  let best: ContentCoding = 'identity';
  let bestWeight = weights.get('identity') ?? any ?? 0;
  for (const coding of CODINGS) {
    const weight = weights.get(coding) ?? any ?? 0;
    if (weight > 0 && weight >= bestWeight && (best === 'identity' || weight > bestWeight)) {
      best = coding;
      bestWeight = weight;
    }
  }
  return best;
}

/** A q-value as RFC 9110 (12.4.2) writes it: 0 to 1, with at most three decimals. */
const Q_VALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/** The q parameter of an entry: 1 when absent, undefined when it is no q-value. */
function qValue(parameters: readonly string[]): number | undefined {
  for (const parameter of parameters) {
    const [key = '', value = ''] = parameter.split('=');
    if (key.trim().toLowerCase() !== 'q') continue;
    const text = value.trim();
    return Q_VALUE.test(text) ? Number(text) : undefined;
  }
  return 1;
}

/** Headers of Yoga's response that the plugin sets itself, or leaves out of a 304. */
const REPLACED_HEADERS = new Set(['content-type', 'content-length', 'content-encoding', 'etag', 'cache-control', 'vary']);

/** Entity tags in an If-None-Match: quoted, optionally weak; commas may appear inside the quotes. */
const ENTITY_TAG = /(?:W\/)?"[^"]*"/g;

/** If-None-Match's weak comparison (RFC 9110, 13.1.2): `*`, or any tag with the same opaque tag. */
function matchesAny(ifNoneMatch: string | null, etag: string): boolean {
  if (ifNoneMatch === null) return false;
  if (ifNoneMatch.trim() === '*') return true;
  for (const [tag] of ifNoneMatch.matchAll(ENTITY_TAG)) {
    if (tag.replace(/^W\//, '') === etag) return true;
  }
  return false;
}

/** A Vary value with Accept and Accept-Encoding added to what other plugins (CORS) put there. */
function withVary(existing: string | null): string {
  const listed = (existing ?? '').split(',').map((name) => name.trim()).filter((name) => name !== '');
  if (listed.includes('*')) return '*';
  const missing = VARY.filter((name) => !listed.some((other) => other.toLowerCase() === name.toLowerCase()));
  return [...listed, ...missing].join(', ');
}
