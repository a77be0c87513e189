import { request } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createHarness, listen, type Harness, type Listening } from './helpers/harness.js';

const LIMIT = 2048;

/** A GraphQL request body of exactly `size` bytes: JSON padded with trailing spaces. */
function bodyOf(size: number): Buffer {
  const json = JSON.stringify({ query: '{ generation(input: {prompt: "sized"}) { cacheStatus } }' });
  return Buffer.from(json + ' '.repeat(size - Buffer.byteLength(json)));
}

/** POSTs with a Content-Length, or chunked (none) when `chunked`. */
function post(url: string, body: Buffer, chunked: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { 'content-type': 'application/json' };
    if (!chunked) headers['content-length'] = body.length;
    const req = request(url, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    if (chunked) {
      // Several chunks, so that the limit is crossed while reading.
      for (let offset = 0; offset < body.length; offset += 512) req.write(body.subarray(offset, offset + 512));
      req.end();
    } else {
      req.end(body);
    }
  });
}

describe.each([
  ['with a Content-Length', false],
  ['chunked, without a Content-Length', true],
])('the request body limit, %s', (_name, chunked) => {
  let harness: Harness;
  let server: Listening | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('serves a body of exactly the limit', async () => {
    harness = createHarness();
    server = await listen(harness, '127.0.0.1', LIMIT);

    const response = await post(server.url, bodyOf(LIMIT), chunked);

    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ data: { generation: { cacheStatus: 'MISS' } }, extensions: expect.anything() });
    expect(harness.generator.calls).toHaveLength(1);
  });

  it('refuses a body one byte over the limit with 413 and PAYLOAD_TOO_LARGE, generating nothing', async () => {
    harness = createHarness();
    server = await listen(harness, '127.0.0.1', LIMIT);

    const response = await post(server.url, bodyOf(LIMIT + 1), chunked);

    expect(response.status).toBe(413);
    expect(JSON.parse(response.body)).toMatchObject({ errors: [{ extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
    expect(harness.generator.calls).toHaveLength(0);
    // The server keeps serving.
    expect((await post(server.url, bodyOf(100), false)).status).toBe(200);
  });
});

describe('a client that goes away while sending its body', () => {
  let server: Listening | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it.each([
    ['with a Content-Length', { 'content-length': '1000' }],
    ['chunked', { 'transfer-encoding': 'chunked' }],
  ])('gets no answer, generates nothing, and leaves the server serving (%s)', async (_name, headers) => {
    const harness = createHarness();
    server = await listen(harness, '127.0.0.1', LIMIT);
    const { port } = new URL(server.url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const answer: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => answer.push(chunk));
    const head = Object.entries({ host: '127.0.0.1', 'content-type': 'application/json', ...headers })
      .map(([name, value]) => `${name}: ${value}\r\n`)
      .join('');
    const part = '{"query": "{ generation(input: {prompt: \\"cut\\"}) { output } }"';
    const chunked = 'transfer-encoding' in headers;
    socket.write(`POST /graphql HTTP/1.1\r\n${head}\r\n${chunked ? `${part.length.toString(16)}\r\n${part}\r\n` : part}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));

    expect(Buffer.concat(answer).toString()).toBe('');
    expect(harness.generator.calls).toHaveLength(0);
    expect((await post(server.url, bodyOf(100), false)).status).toBe(200);
  });
});
