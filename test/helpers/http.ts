import { request, type IncomingHttpHeaders } from 'node:http';
import { networkInterfaces } from 'node:os';

export interface RawResponse {
  readonly status: number;
  readonly statusMessage: string | undefined;
  readonly headers: IncomingHttpHeaders;
  /** Header names and values as they came, in order: names in the case the server wrote them. */
  readonly rawHeaders: readonly string[];
  readonly body: string;
}

/**
 * A POST with exactly these headers (fetch would add its own): with a Content-Length, or, given
 * a chunk size, chunked in pieces of that size.
 */
export function rawPost(
  url: string,
  body: string | Buffer,
  headers: Record<string, string>,
  { chunkSize }: { readonly chunkSize?: number } = {},
): Promise<RawResponse> {
  const bytes = Buffer.from(body);
  return new Promise((resolve, reject) => {
    const length = chunkSize === undefined ? { 'content-length': bytes.length } : {};
    const req = request(url, { method: 'POST', headers: { ...length, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          statusMessage: res.statusMessage,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
    });
    req.on('error', reject);
    if (chunkSize === undefined) return void req.end(bytes);
    for (let offset = 0; offset < bytes.length; offset += chunkSize) req.write(bytes.subarray(offset, offset + chunkSize));
    req.end();
  });
}

/** An IPv4 address of this machine that is not loopback, if it has one. */
export const externalIPv4 = (): string | undefined =>
  Object.values(networkInterfaces())
    .flat()
    .find((address) => address?.family === 'IPv4' && !address.internal)?.address;
