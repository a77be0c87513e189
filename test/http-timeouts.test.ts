import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createHarness, serve } from './helpers/harness.js';

/** Small timeouts, so that slow clients are seen off within the test. */
const TIMEOUTS = { HTTP_HEADERS_TIMEOUT_MS: '400', HTTP_REQUEST_TIMEOUT_MS: '800', HTTP_KEEP_ALIVE_TIMEOUT_MS: '300' };
const BODY = JSON.stringify({ query: '{ generation(input: {prompt: "timeouts"}) { cacheStatus } }' });

/** A raw connection to the server, and everything it answers until it closes. */
async function rawConnection(url: string): Promise<{ socket: Socket; answer: Promise<string> }> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  const answer = once(socket, 'close').then(() => received);
  return { socket, answer };
}

const head = (contentLength: number) =>
  `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${contentLength}\r\n`;

describe('HTTP timeouts against slow clients', () => {
  it('answers 408 and closes a connection whose headers never end (HTTP_HEADERS_TIMEOUT_MS)', async () => {
    const harness = createHarness({ env: TIMEOUTS });
    const { socket, answer } = await rawConnection(await serve(harness));

    socket.write(head(BODY.length));

    expect(await answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(harness.generator.calls).toHaveLength(0);
  });

  it('answers 408 and closes a connection whose body stops half-way (HTTP_REQUEST_TIMEOUT_MS)', async () => {
    const harness = createHarness({ env: TIMEOUTS });
    const { socket, answer } = await rawConnection(await serve(harness));

    socket.write(`${head(BODY.length)}\r\n${BODY.slice(0, 10)}`);

    expect(await answer).toMatch(/^HTTP\/1\.1 408 /);
    expect(harness.generator.calls).toHaveLength(0);
  });

  it('serves a request sent in pieces that ends in time', async () => {
    const harness = createHarness({ env: TIMEOUTS });
    const { socket, answer } = await rawConnection(await serve(harness));

    socket.write(head(BODY.length));
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.write(`Connection: close\r\n\r\n${BODY.slice(0, 10)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.write(BODY.slice(10));

    const response = await answer;
    expect(response).toMatch(/^HTTP\/1\.1 200 /);
    expect(response).toContain('"cacheStatus":"MISS"');
  });

  it('lets a response take longer than the request timeout: only the request is timed', async () => {
    // The generation takes longer than a whole request may.
    const harness = createHarness({ env: TIMEOUTS, latencyMs: 1500 });
    const url = await serve(harness);

    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: BODY });

    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ data: { generation: { cacheStatus: 'MISS' } } });
  });

  it('closes a kept-alive connection that stays idle (HTTP_KEEP_ALIVE_TIMEOUT_MS)', async () => {
    const harness = createHarness({ env: TIMEOUTS });
    const { socket, answer } = await rawConnection(await serve(harness));

    socket.write(`${head(BODY.length)}\r\n${BODY}`);

    // One answer, then the server ends the connection by itself.
    const response = await answer;
    expect(response.match(/HTTP\/1\.1 200 /g)).toHaveLength(1);
    expect(response).toMatch(/\r\nConnection: keep-alive\r\n/i);
  });
});
