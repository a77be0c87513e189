/**
 * cacheStats subscribers over WebSocket (the graphql-ws protocol) while traffic runs: each
 * subscriber must get its first value at once and then one every INTERVAL_MS.
 *   k6 run -e BASE_URL=http://127.0.0.1:4000 load/k6/stats-subscribers.ts
 */
import { check } from 'k6';
import type { Options } from 'k6/options';
import { setTimeout } from 'k6/timers';
import { Counter, Trend } from 'k6/metrics';
import { WebSocket } from 'k6/websockets';
import { BASE_URL, COMMON_THRESHOLDS, operation, requireReady } from './graphql.ts';
import { document } from './operations.ts';

const INTERVAL_MS = Number(__ENV['INTERVAL_MS'] ?? '500');
const SUBSCRIPTION_MS = Number(__ENV['SUBSCRIPTION_MS'] ?? '10000');
const DURATION = __ENV['DURATION'] ?? '1m';
const WS_URL = `${BASE_URL.replace(/^http/, 'ws')}/graphql`;

const statsUpdates = new Counter('stats_updates');
const subscriptionErrors = new Counter('subscription_errors');
const firstValueMs = new Trend('stats_first_value_ms', true);

export const options: Options = {
  scenarios: {
    traffic: { executor: 'constant-vus', vus: Number(__ENV['VUS'] ?? '30'), duration: DURATION, exec: 'traffic' },
    subscribers: { executor: 'constant-vus', vus: Number(__ENV['SUBSCRIBERS'] ?? '10'), duration: DURATION, exec: 'subscriber' },
  },
  thresholds: {
    ...COMMON_THRESHOLDS,
    'http_req_duration{scenario:traffic}': ['p(95)<3000'],
    subscription_errors: ['count==0'],
    stats_first_value_ms: ['p(95)<1000'],
    stats_updates: ['count>0'],
  },
};

export function setup(): void {
  requireReady();
}

export function traffic(): void {
  operation('Generation', { input: { prompt: `k6 subscribed traffic ${Math.floor(Math.random() * 200)}` } });
}

/** One subscription for SUBSCRIPTION_MS: connection_init, subscribe, count `next` messages. */
export function subscriber(): void {
  // k6's WebSocket ignores its protocols argument: the subprotocol goes in as a header.
  const socket = new WebSocket(WS_URL, null, { headers: { 'Sec-WebSocket-Protocol': 'graphql-transport-ws' } });
  const opened = Date.now();
  let updates = 0;
  socket.onopen = () => socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
  socket.onmessage = (event) => {
    const message = JSON.parse(String(event?.data)) as { type: string; payload?: unknown };
    if (message.type === 'connection_ack') {
      socket.send(
        JSON.stringify({
          id: '1',
          type: 'subscribe',
          payload: { query: document('CacheStatsLive'), operationName: 'CacheStatsLive', variables: { intervalMs: INTERVAL_MS } },
        }),
      );
    } else if (message.type === 'next') {
      updates++;
      statsUpdates.add(1);
      if (updates === 1) firstValueMs.add(Date.now() - opened);
    } else if (message.type === 'error') {
      subscriptionErrors.add(1);
    } else if (message.type === 'ping') {
      socket.send(JSON.stringify({ type: 'pong' }));
    }
  };
  socket.onerror = () => subscriptionErrors.add(1);
  setTimeout(() => {
    socket.send(JSON.stringify({ id: '1', type: 'complete' }));
    socket.close();
    check(updates, {
      'a value at once and one an interval': (count) => count >= Math.floor(SUBSCRIPTION_MS / INTERVAL_MS) - 1,
    });
  }, SUBSCRIPTION_MS);
}
