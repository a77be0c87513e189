import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createHarness, serve, type Harness } from './helpers/harness.js';
import { rawPost } from './helpers/http.js';

const LIMIT = 2048;

/** A GraphQL request body of exactly `size` bytes: JSON padded with trailing spaces. */
function bodyOf(size: number): Buffer {
  const json = JSON.stringify({ query: '{ generation(input: {prompt: "sized"}) { cacheStatus } }' });
  return Buffer.from(json + ' '.repeat(size - Buffer.byteLength(json)));
}

/** POSTs with a Content-Length, or chunked in several pieces, so that the limit is crossed while reading. */
const post = (url: string, body: Buffer, chunked: boolean) =>
  rawPost(url, body, { 'content-type': 'application/json' }, chunked ? { chunkSize: 512 } : {});

describe.each([
  ['with a Content-Length', false],
  ['chunked, without a Content-Length', true],
])('the request body limit, %s', (_name, chunked) => {
  let harness: Harness;

  it('serves a body of exactly the limit', async () => {
    harness = createHarness({ env: { MAX_REQUEST_BODY_BYTES: String(LIMIT) } });
    const url = await serve(harness);

    const response = await post(url, bodyOf(LIMIT), chunked);

    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual({ data: { generation: { cacheStatus: 'MISS' } }, extensions: expect.anything() });
    expect(harness.generator.calls).toHaveLength(1);
  });

  it('refuses a body one byte over the limit with 413 and PAYLOAD_TOO_LARGE, generating nothing', async () => {
    harness = createHarness({ env: { MAX_REQUEST_BODY_BYTES: String(LIMIT) } });
    const url = await serve(harness);

    const response = await post(url, bodyOf(LIMIT + 1), chunked);

    expect(response.status).toBe(413);
    expect(JSON.parse(response.body)).toMatchObject({ errors: [{ extensions: { code: 'PAYLOAD_TOO_LARGE' } }] });
    expect(harness.generator.calls).toHaveLength(0);
    // The server keeps serving.
    expect((await post(url, bodyOf(100), false)).status).toBe(200);
  });
});

describe('a client that stops sending before the end of its body', () => {
  it.each([
    ['with a Content-Length', false],
    ['chunked', true],
  ])('gets 400 from node, generates nothing, and leaves the server serving (%s)', async (_name, chunked) => {
    const harness = createHarness({ env: { MAX_REQUEST_BODY_BYTES: String(LIMIT) } });
    const url = await serve(harness);
    const { port } = new URL(url);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    const answer: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => answer.push(chunk));
    // A whole GraphQL request, but less than the body promised: a Content-Length 100 bytes over
    // it, or no last chunk. Served as it stands, it would generate.
    const json = JSON.stringify({ query: '{ generation(input: {prompt: "cut short"}) { output } }' });
    const framing = chunked
      ? `transfer-encoding: chunked\r\n\r\n${Buffer.byteLength(json).toString(16)}\r\n${json}\r\n`
      : `content-length: ${Buffer.byteLength(json) + 100}\r\n\r\n${json}`;
    await new Promise<void>((resolve) =>
      socket.write(`POST /graphql HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n${framing}`, () => resolve()),
    );
    socket.end();
    await new Promise((resolve) => socket.once('close', resolve));

    expect((await post(url, bodyOf(100), false)).status).toBe(200);
    // Node's HTTP parser answers a message cut short; nothing else is written.
    expect(Buffer.concat(answer).toString()).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(Buffer.concat(answer).toString().match(/HTTP\/1\.1/g)).toHaveLength(1);
    expect(harness.generator.calls.map((call) => call.prompt)).toEqual(['sized']);
  });
});
