import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ExecutionResult } from 'graphql';
import { sendNodeResponse } from '@whatwg-node/server';
import { isAsyncIterable, isPromise, processRegularResult, type Plugin } from 'graphql-yoga';
import type { GencacheYoga, ServerContext } from './yoga.js';

/**
 * The fast lane: Yoga's own GraphQL pipeline without its Fetch adapter, for plain JSON POSTs.
 *
 * Yoga's node adapter builds a Fetch Request around node's request, streams its body, and
 * turns a Fetch Response back into node's response: most of a cached request's cost. For a JSON
 * POST to the endpoint whose body the HTTP server has already read (it reads bodies to enforce
 * their limit), the lane keeps only that HTTP framing: it parses the body into GraphQL
 * parameters and hands them to `yoga.getResultForParams`, which runs Yoga's `onParams` hooks and
 * then parses, validates, builds the context and executes through `yoga.getEnveloped()` (the
 * parse and validation caches, the security limits, compiled execution, masking and every
 * envelop hook of every plugin in Yoga's list), then its `onExecutionResult` hooks. A result is
 * answered through Yoga's `onResultProcess` hooks (content negotiation included) and its
 * processor; a plain JSON result with no errors is written directly, as that processor writes it.
 *
 * What the lane does not run are the hooks of HTTP framing (`onRequest`, `onRequestParse`,
 * `onResponse`): they answer other paths (health, readiness, metrics, GraphiQL), CORS (the lane
 * never takes a request with an `Origin`), CSRF prevention (which lets JSON POSTs through) and
 * request parsing (the lane's own). A plugin given to Yoga with such hooks, but for those known
 * never to act on the lane's requests, turns the lane off, so that it never silently misses a
 * request. The request Yoga sees has no abort signal tied to the
 * connection; a streamed answer (SSE) still stops when the client goes away, as the writer
 * cancels its body, and a client that leaves while its generation runs is seen from node's
 * response, as for Yoga's own requests (src/client-departure.ts). test/fast-lane.test.ts sends every case to a server with the lane and one
 * without and compares the raw responses.
 */
export interface FastLane {
  /** Whether the request is one the lane takes, judged from its method, path and headers before its body is read. */
  takes(req: IncomingMessage): boolean;
  /**
   * Answers the request from its body and resolves true; or resolves false having written nothing
   * and run nothing, for Yoga to answer: a body that is not a JSON object, a Host that makes no
   * URL, or parameters that Yoga's `onParams` hooks refuse before anything runs.
   */
  serve(req: IncomingMessage, res: ServerResponse, body: Buffer): boolean | Promise<boolean>;
}

export interface FastLaneOptions {
  readonly yoga: GencacheYoga;
  /** The plugins given to Yoga. */
  readonly plugins: readonly (object | false)[];
  /**
   * Those of them whose HTTP hooks the lane may leave out, because they never act on the requests
   * it takes (they answer other paths, or let every JSON POST through). Any other plugin with an
   * HTTP hook turns the lane off.
   */
  readonly laneSafe: readonly object[];
}

const MAX_VALID_HOSTS = 1000;

/** Hooks of Yoga's request handling that the lane leaves out; a plugin with one keeps requests on Yoga. */
const HTTP_HOOKS = ['onRequest', 'onRequestParse', 'onResponse'] as const;

type ResultProcessHook = NonNullable<Plugin['onResultProcess']>;
type Result = ExecutionResult | AsyncIterable<ExecutionResult> | undefined;

/** The lane for a Yoga server, or undefined when a plugin in its list needs every request through Yoga. */
export function createFastLane({ yoga, plugins, laneSafe }: FastLaneOptions): FastLane | undefined {
  const skippable = new Set<unknown>(laneSafe);
  const needsYoga = plugins.some(
    (plugin) => plugin && !skippable.has(plugin) && HTTP_HOOKS.some((hook) => typeof (plugin as Partial<Plugin>)[hook] === 'function'),
  );
  if (needsYoga) return undefined;
  // Yoga's whole list, its own plugins included (content negotiation among them), in its order.
  const enveloped = (yoga as unknown as { plugins: Plugin[] }).plugins;
  const resultHooks = enveloped.flatMap((plugin) => (plugin.onResultProcess ? [plugin.onResultProcess] : []));
  const endpoint = yoga.graphqlEndpoint;
  // Read once: every property of the server adapter is reached through a proxy. The method is an
  // arrow function of Yoga's server, so it needs no binding.
  const { fetchAPI, getResultForParams, logger } = yoga;
  /** Hosts seen to make a valid URL, so that each is parsed once (bounded, then forgotten). */
  const validHosts = new Set<string>();

  return {
    takes: (req) => req.method === 'POST' && req.url === endpoint && req.headers.origin === undefined && isJson(req.headers['content-type']),
    serve(req, res, body) {
      let params: unknown;
      try {
        params = JSON.parse(body.toString('utf8'));
      } catch {
        return false;
      }
      // Batches and anything but an object: Yoga's request parsing answers those.
      if (typeof params !== 'object' || params === null || Array.isArray(params)) return false;
      const serverContext: ServerContext = { req, res };
      const host = req.headers.host ?? 'localhost';
      const url = `http://${host}${req.url}`;
      if (!validHosts.has(host)) {
        // A Host that makes no URL: Yoga words the refusal.
        if (!URL.canParse(url)) return false;
        if (validHosts.size >= MAX_VALID_HOSTS) validHosts.clear();
        validHosts.add(host);
      }
      const request = new fetchAPI.Request(url, { method: 'POST', headers: req.headers as Record<string, string> });
      const failed = (error: unknown) => {
        // Nothing more can be written (a processor failed, or the client went away).
        logger.error(error);
        res.destroy();
        return true;
      };
      const answer = (result: Result): boolean | Promise<boolean> => {
        let done: void | Promise<void>;
        try {
          done = respond(result, request, res, req, resultHooks, fetchAPI, serverContext);
        } catch (error) {
          return failed(error);
        }
        return isPromise(done) ? done.then(() => true, failed) : true;
      };
      let pending: ReturnType<typeof getResultForParams>;
      try {
        pending = getResultForParams({ params: params as never, request }, serverContext);
      } catch {
        // Yoga catches what fails in parsing, validation and execution; what escapes is a hook
        // that threw: an onParams hook refusing the parameters, before anything ran. Yoga words
        // the refusal.
        return false;
      }
      // A cached hit runs synchronously from here to the last byte written; only what waits for
      // something (a generation, an asynchronous hook) takes promises.
      return isPromise(pending) ? pending.then(answer, () => false) : answer(pending);
    },
  };
}

interface ResultProcessing {
  result: Result;
  processor: ((result: never, fetchAPI: never, mediaType: string) => Response | Promise<Response>) | undefined;
  mediaType: string;
  readonly acceptableMediaTypes: string[];
}

/**
 * Answers a result as Yoga's result processing does: its `onResultProcess` hooks pick the
 * processor (negotiating the media type) and may replace the result; the processor's Response is
 * written as Yoga's adapter writes it. A JSON result without errors is written directly.
 */
function respond(
  initial: Result,
  request: Request,
  res: ServerResponse,
  req: IncomingMessage,
  hooks: readonly ResultProcessHook[],
  fetchAPI: GencacheYoga['fetchAPI'],
  serverContext: ServerContext,
): void | Promise<void> {
  const processing: ResultProcessing = { result: initial, processor: undefined, mediaType: '*/*', acceptableMediaTypes: [] };
  const processFrom = (first: number): void | Promise<void> => {
    for (let index = first; index < hooks.length; index++) {
      const done = hooks[index]!({
        request,
        acceptableMediaTypes: processing.acceptableMediaTypes,
        result: processing.result as never,
        setResult(next) {
          processing.result = next as Result;
        },
        resultProcessor: processing.processor as never,
        setResultProcessor(next, accepted) {
          processing.processor = next as never;
          processing.mediaType = accepted;
        },
        serverContext: serverContext as never,
      });
      if (isPromise(done)) return done.then(() => processFrom(index + 1));
    }
    return write(processing, res, req, fetchAPI);
  };
  return processFrom(0);
}

/** Writes what the chosen processor makes of the result. */
function write({ result, processor, mediaType, acceptableMediaTypes }: ResultProcessing, res: ServerResponse, req: IncomingMessage, fetchAPI: GencacheYoga['fetchAPI']): void | Promise<void> {
  if (processor === processRegularResult && isPlainSuccess(result)) {
    // What processRegularResult answers for a result without errors, without the Response object.
    const text = JSON.stringify(result);
    res.writeHead(200, { 'Content-Type': `${mediaType}; charset=utf-8`, 'content-length': Buffer.byteLength(text) });
    res.end(text);
    return undefined;
  }
  if (processor === undefined) {
    const notAcceptable = new fetchAPI.Response(null, {
      status: 406,
      statusText: 'Not Acceptable',
      headers: { accept: acceptableMediaTypes.join('; charset=utf-8, ') },
    });
    return sendNodeResponse(notAcceptable, res, req, true);
  }
  const response = processor(result as never, fetchAPI as never, mediaType);
  return isPromise(response) ? response.then((made) => sendNodeResponse(made, res, req, true)) : sendNodeResponse(response, res, req, true);
}

/** A result that Yoga's regular processor answers with 200 and the result as JSON, unchanged. */
function isPlainSuccess(result: Result): result is ExecutionResult {
  return (
    result !== undefined &&
    !isAsyncIterable(result) &&
    !Array.isArray(result) &&
    result.errors === undefined &&
    (result.extensions as { http?: unknown } | undefined)?.http === undefined
  );
}

/**
 * The content types of the bodies the lane reads: the forms clients send. Any other, even one
 * Yoga also reads as JSON, goes to Yoga's request parsing.
 */
const JSON_TYPES = new Set(['application/json', 'application/json; charset=utf-8', 'application/json;charset=utf-8']);

const isJson = (contentType: string | undefined): boolean => contentType !== undefined && JSON_TYPES.has(contentType);
