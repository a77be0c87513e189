import { once } from 'node:events';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import WebSocket from 'ws';
import { createHarness, serve } from './helpers/harness.js';
import { captureLogs } from './helpers/logs.js';

const LIMIT = 4096;

type Message = Record<string, unknown>;

/** The first message received (already, or when it comes) that satisfies the predicate. */
function arrived(socket: WebSocket, messages: readonly Message[], predicate: (message: Message) => boolean): Promise<Message> {
  return new Promise((resolve) => {
    const check = () => {
      const found = messages.find(predicate);
      if (found) resolve(found);
      else socket.once('message', check);
    };
    check();
  });
}

/** A graphql-ws socket, initialised: `connection_ack` received. */
async function connected(url: string): Promise<{ socket: WebSocket; messages: Message[] }> {
  const socket = new WebSocket(url.replace(/^http/, 'ws'), 'graphql-transport-ws');
  const messages: Message[] = [];
  socket.on('message', (data: Buffer) => messages.push(JSON.parse(data.toString('utf8')) as Message));
  await once(socket, 'open');
  socket.send(JSON.stringify({ type: 'connection_init' }));
  await arrived(socket, messages, (message) => message['type'] === 'connection_ack');
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
    await arrived(socket, messages, (each) => each['type'] === 'complete');

    expect(messages.find((each) => each['type'] === 'next')).toMatchObject({ payload: { data: { cacheConfig: { enabled: true } } } });
    socket.close();
  });

  it('closes the socket with 1009 (message too big) for a message one byte over, running nothing, logging one line', async () => {
    const { logger, lines } = captureLogs('debug');
    const harness = createHarness({ env: { MAX_REQUEST_BODY_BYTES: String(LIMIT) }, logger });
    const url = await serve(harness);
    const { socket, messages } = await connected(url);
    const consoleError = vi.spyOn(console, 'error');
    onTestFinished(() => consoleError.mockRestore());

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

describe('a graphql-ws operation refused by the parser or a security limit', () => {
  it.each([
    ['a document that does not parse', '{ cacheConfig { enabled }', 'GRAPHQL_PARSE_FAILED'],
    ['a document over the alias limit', `{ ${Array.from({ length: 33 }, (_, i) => `a${i}: cacheConfig { enabled }`).join(' ')} }`, 'BAD_USER_INPUT'],
  ])('%s gets its own error message; the connection and its other operation go on, and nothing reaches the console', async (_case, query, code) => {
    const url = await serve(createHarness());
    const { socket, messages } = await connected(url);
    const consoleError = vi.spyOn(console, 'error');
    onTestFinished(() => consoleError.mockRestore());
    const next = (predicate: (message: Message) => boolean) => arrived(socket, messages, predicate);
    socket.send(JSON.stringify({ id: 'stats', type: 'subscribe', payload: { query: 'subscription { cacheStats(intervalMs: 250) { hits } }' } }));
    await next((message) => message['id'] === 'stats' && message['type'] === 'next');

    socket.send(JSON.stringify({ id: 'bad', type: 'subscribe', payload: { query } }));
    const refusal = await next((message) => message['id'] === 'bad');
    const before = messages.filter((message) => message['id'] === 'stats').length;
    await next((message) => message['id'] === 'stats' && messages.filter((each) => each['id'] === 'stats').length > before);

    expect(refusal).toMatchObject({ type: 'error', payload: [{ extensions: { code } }] });
    expect((refusal['payload'] as { extensions: Record<string, unknown> }[])[0]!.extensions).not.toHaveProperty('http');
    expect(socket.readyState).toBe(WebSocket.OPEN);
    expect(consoleError).not.toHaveBeenCalled();
    socket.close();
  });
});
