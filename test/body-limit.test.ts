import { request } from 'node:http';
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
