/**
 * Streaming subscribers: each virtual user subscribes to `generationStream` over WebSocket (the
 * graphql-transport-ws protocol: connection_init, subscribe, next ... complete) and reads it to
 * its end. The users share PROMPTS prompts a window, new every STREAM_WINDOW_MS, so that many
 * follow one generation: the first starts it (MISS), those that join while it streams get
 * everything produced so far in their first chunk (COALESCED), the later ones the stored output
 * in one chunk (HIT). Each stream is checked: its indexes 0, 1, 2, ..., and its deltas adding up
 * to the `generation.output` of its last chunk.
 *   k6 run -e BASE_URL=http://127.0.0.1:4000 load/k6/streaming.ts
 */
import { check } from 'k6';
import type { Options } from 'k6/options';
import { Counter, Rate, Trend } from 'k6/metrics';
import { clearTimeout, setTimeout } from 'k6/timers';
import { WebSocket } from 'k6/websockets';
import { BASE_URL, cacheCoalesced, cacheHits, cacheMisses, graphqlErrors, requireReady } from './graphql.ts';
import { document } from './operations.ts';

const PROMPTS = Number(__ENV['PROMPTS'] ?? '4');
const WORDS = Number(__ENV['WORDS'] ?? '200');
const WINDOW_MS = Number(__ENV['STREAM_WINDOW_MS'] ?? '5000');
const STREAM_TIMEOUT_MS = Number(__ENV['STREAM_TIMEOUT_MS'] ?? '60000');
const WS_URL = `${BASE_URL.replace(/^http/, 'ws')}/graphql`;

const firstChunkMs = new Trend('stream_first_chunk_ms', true);
const doneMs = new Trend('stream_done_ms', true);
const chunks = new Counter('stream_chunks');
const streamErrors = new Counter('stream_errors');
/** The share of streams whose deltas added up to the final output, indexes consecutive. */
const streamsCorrect = new Rate('stream_correct');

const STATUS_COUNTERS: Record<string, Counter> = { HIT: cacheHits, MISS: cacheMisses, COALESCED: cacheCoalesced };

export const options: Options = {
  scenarios: {
    streamers: { executor: 'constant-vus', vus: Number(__ENV['VUS'] ?? '100'), duration: __ENV['DURATION'] ?? '1m' },
  },
  thresholds: {
    checks: ['rate>0.99'],
    graphql_errors: ['rate<0.01'],
    stream_errors: ['count==0'],
    stream_correct: ['rate>0.99'],
    stream_first_chunk_ms: ['p(95)<1000'],
    // A stream ends with its generation: the server's generator latency, and the queue before it.
    stream_done_ms: ['p(95)<5000'],
    // Users shared generations.
    cache_coalesced: ['count>0'],
  },
};

export function setup(): { run: string } {
  requireReady();
  return { run: `${Date.now()}` };
}

interface Chunk {
  readonly key: string;
  readonly cacheStatus: string;
  readonly delta: string;
  readonly index: number;
  readonly done: boolean;
  readonly generation: { readonly output: string } | null;
}

interface Message {
  readonly type: string;
  readonly id?: string;
  readonly payload?: unknown;
}

/** The payload of a `next` message. */
interface Next {
  readonly data?: { readonly generationStream?: Chunk } | null;
  readonly errors?: readonly unknown[];
}

/** One stream, read to its end: connection_init, subscribe, the `next` chunks, `complete`. */
export default function stream(data: { run: string }): void {
  const window = Math.floor(Date.now() / WINDOW_MS);
  const prompt = `k6 stream ${data.run} window ${window} prompt ${__VU % PROMPTS}`;
  // k6's WebSocket ignores its protocols argument: the subprotocol goes in as a header.
  const socket = new WebSocket(WS_URL, null, { headers: { 'Sec-WebSocket-Protocol': 'graphql-transport-ws' } });
  const opened = Date.now();
  let text = '';
  let received = 0;
  let consecutive = true;
  let last: Chunk | undefined;
  let finished = false;

  const finish = (failure?: string) => {
    if (finished) return;
    finished = true;
    clearTimeout(timeout);
    if (failure !== undefined) streamErrors.add(1, { failure });
    const ended = last?.done === true;
    const correct = ended && consecutive && text === last?.generation?.output;
    streamsCorrect.add(correct);
    check(last, {
      'the stream ends with a done chunk': () => ended,
      'indexes are consecutive from 0': () => consecutive,
      'deltas add up to generation.output': () => ended && text === last?.generation?.output,
    });
    if (socket.readyState === 1) socket.close();
  };
  const timeout = setTimeout(() => finish('timeout'), STREAM_TIMEOUT_MS);

  socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  socket.onmessage = (event) => {
    const message = JSON.parse(String(event?.data)) as Message;
    if (message.type === 'connection_ack') {
      socket.send(
        JSON.stringify({
          id: '1',
          type: 'subscribe',
          payload: {
            query: document('GenerationStream'),
            operationName: 'GenerationStream',
            variables: { input: { prompt, parameters: { maxTokens: WORDS } } },
          },
        }),
      );
    } else if (message.type === 'next') {
      const payload = message.payload as Next | undefined;
      const hasErrors = (payload?.errors?.length ?? 0) > 0;
      graphqlErrors.add(hasErrors, { operation: 'GenerationStream' });
      const chunk = payload?.data?.generationStream;
      if (hasErrors || chunk === undefined) return finish('graphql errors');
      if (received === 0) {
        firstChunkMs.add(Date.now() - opened);
        STATUS_COUNTERS[chunk.cacheStatus]?.add(1);
      }
      if (chunk.index !== received) consecutive = false;
      received++;
      chunks.add(1);
      text += chunk.delta;
      last = chunk;
      if (chunk.done) doneMs.add(Date.now() - opened);
    } else if (message.type === 'complete') {
      finish(last?.done === true ? undefined : 'completed before done');
    } else if (message.type === 'error') {
      graphqlErrors.add(true, { operation: 'GenerationStream' });
      finish('subscription refused');
    } else if (message.type === 'ping') {
      socket.send(JSON.stringify({ type: 'pong' }));
    }
  };
  socket.onerror = () => finish('socket error');
  socket.onclose = () => finish('closed before complete');
}
