import { once } from 'node:events';
import { describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { createHarness, serve } from './helpers/harness.js';
import { captureLogs } from './helpers/logs.js';

const LIMIT = 4096;

/** A graphql-ws socket, initialised: `connection_ack` received. */
async function connected(url: string): Promise<{ socket: WebSocket; messages: Record<string, unknown>[] }> {
  const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const messages: Record<string, unknown>[] = [];
  socket.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString('utf8')) as Record<string, unknown>));
  await once(socket, 'open');
  socket.send(JSON.stringify({ type: 'connection_init' }));
  await new Promise<void>((resolve) => {
    const check = () => (messages.some((message) => message['type'] === 'connection_ack') ? resolve() : socket.once('message', check));
    check();
  });
  return { socket, messages };
}

/** A `subscribe` message of exactly `bytes` bytes: a query padded with a comment. */
function subscribeOfSize(bytes: number): string {
  const empty = JSON.stringify({ id: '1', type: 'subscribe', payload: { query: '{ cacheConfig { enabled } }\n#' } });
  return JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `{ cacheConfig { enabled } }\n#${'x'.repeat(bytes - empty.length)}` } });
}

describe('graphql-ws messages are limited as HTTP bodies are (MAX_REQUEST_BODY_BYTES)', () => {
  it('runs an operation whose message is exactly the limit', async () => {
    const url = await serve(createHarness({ env: { MAX_REQUEST_BODY_BYTES: String(LIMIT) } }));
    const { socket, messages } = await connected(url);
    const message = subscribeOfSize(LIMIT);
    expect(Buffer.byteLength(message)).toBe(LIMIT);

    socket.send(message);
    await new Promise<void>((resolve) => {
      const check = () => (messages.some((each) => each['type'] === 'complete') ? resolve() : socket.once('message', check));
      check();
    });

    expect(messages.find((each) => each['type'] === 'next')).toMatchObject({ payload: { data: { cacheConfig: { enabled: true } } } });
    socket.close();
  });

  it('closes the socket with 1009 (message too big) for a message one byte over, running nothing, logging one line', async () => {
    const { logger, lines } = captureLogs('debug');
    const harness = createHarness({ env: { MAX_REQUEST_BODY_BYTES: String(LIMIT) }, logger });
    const url = await serve(harness);
    const { socket, messages } = await connected(url);
    const consoleError = vi.spyOn(console, 'error');

    socket.send(subscribeOfSize(LIMIT + 1));
    const [code] = (await once(socket, 'close')) as [number, Buffer];

    expect(code).toBe(1009);
    expect(messages.map((message) => message['type'])).toEqual(['connection_ack']);
    // A client's doing: a line of the service's log, not a stack trace on the console.
    expect(consoleError).not.toHaveBeenCalled();
    expect(lines.filter((line) => line['msg'] === 'websocket: connection error')).toEqual([
      expect.objectContaining({ level: 20, err: expect.objectContaining({ message: 'Max payload size exceeded' }) }),
    ]);
  });
});
