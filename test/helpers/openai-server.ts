import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type OpenAIServerBehaviour =
  /** 200 with a chat completion whose choices[0].message.content is `content`. */
  | { readonly kind: 'answer'; readonly content: string }
  /** This status and body, as given. */
  | { readonly kind: 'status'; readonly status: number; readonly body: string }
  /** 200 with a body that is not JSON. */
  | { readonly kind: 'malformed' }
  /** 200 with a JSON completion that has no choices. */
  | { readonly kind: 'no-choices' }
  /** Never answer; the request stays open until the client goes away. */
  | { readonly kind: 'hold' }
  /** 200 headers and the start of a body, then the connection is destroyed. */
  | { readonly kind: 'cut-off' }
  /** 200 and a chunked body without end, 64 KiB a chunk, until the client goes away. */
  | { readonly kind: 'endless' }
  /** 200 `text/event-stream` with this body, as given. */
  /** An event-stream body as it is; with `splitAt`, in two writes that far apart, 20 ms between them. */
  | { readonly kind: 'events'; readonly body: string; readonly splitAt?: number }
  /**
   * 200 `text/event-stream`: one chat-completion chunk a delta, a last chunk with the usage, then
   * `data: [DONE]` (end `done`); or, after the deltas, the connection destroyed (`cut-off`) or the
   * body ended without [DONE] (`no-done`). With `holdLast`, everything after the first deltas
   * (the last delta and the end) waits for `release()`.
   */
  | {
      readonly kind: 'stream';
      readonly deltas: readonly string[];
      readonly end?: 'done' | 'cut-off' | 'no-done';
      readonly holdLast?: boolean;
    };

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** The body parsed as JSON, or the raw text when it is not JSON. */
  readonly body: unknown;
  /** Whether the client closed the connection before the server answered. */
  abandoned: boolean;
}

export interface FakeOpenAIServer {
  /** `http://127.0.0.1:<port>/v1`, what OPENAI_BASE_URL would be. */
  readonly baseUrl: string;
  /** Every request received, in order of arrival. */
  readonly requests: readonly RecordedRequest[];
  /** What the server does with the next requests; switch it at any time. */
  behaviour: OpenAIServerBehaviour;
  /** Lets the streams held by `holdLast` go on. */
  release(): void;
  /** Resolves once the condition over the server's state holds; checked after every change. */
  until(condition: (server: FakeOpenAIServer) => boolean): Promise<void>;
  close(): Promise<void>;
}

export const DEFAULT_CONTENT = 'a completion from the fake server';

/** A server on a free port of 127.0.0.1 that speaks OpenAI's chat-completions wire format. */
export async function startOpenAIServer(
  behaviour: OpenAIServerBehaviour = { kind: 'answer', content: DEFAULT_CONTENT },
): Promise<FakeOpenAIServer> {
  const requests: RecordedRequest[] = [];
  const waiters: { condition: (server: FakeOpenAIServer) => boolean; resolve: () => void }[] = [];
  let completions = 0;
  const held: (() => void)[] = [];

  const notify = () => {
    for (const waiter of [...waiters]) {
      if (waiter.condition(fake)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  };

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
      const recorded: RecordedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body,
        abandoned: false,
      };
      requests.push(recorded);
      res.on('close', () => {
        if (!res.writableEnded) {
          recorded.abandoned = true;
          notify();
        }
      });

      const current = fake.behaviour;
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      switch (current.kind) {
        case 'answer': {
          completions++;
          const model = typeof body === 'object' && body !== null && 'model' in body ? body.model : null;
          json(200, {
            id: `chatcmpl-${completions}`,
            object: 'chat.completion',
            created: 1_700_000_000,
            model,
            choices: [{ index: 0, message: { role: 'assistant', content: current.content }, finish_reason: 'stop' }],
            usage: { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 },
          });
          break;
        }
        case 'status':
          res.writeHead(current.status, { 'content-type': 'application/json' });
          res.end(current.body);
          break;
        case 'malformed':
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end('{"id": "chatcmpl-broken", "choices": [');
          break;
        case 'no-choices':
          json(200, { id: 'chatcmpl-empty', object: 'chat.completion', usage: { total_tokens: 0 } });
          break;
        case 'hold':
          break;
        case 'cut-off':
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
          res.write('{"choices":', () => res.destroy());
          break;
        case 'events': {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          const { body, splitAt } = current;
          if (splitAt === undefined) res.end(body);
          else {
            res.write(body.slice(0, splitAt));
            setTimeout(() => res.end(body.slice(splitAt)), 20);
          }
          break;
        }
        case 'stream': {
          completions++;
          res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
          const event = (value: unknown) => res.write(`data: ${JSON.stringify(value)}\n\n`);
          const chunk = (choices: unknown[], usage?: unknown) =>
            event({ id: `chatcmpl-${completions}`, object: 'chat.completion.chunk', created: 1_700_000_000, choices, ...(usage ? { usage } : {}) });
          const deltas = current.deltas;
          const first = current.holdLast ? deltas.slice(0, -1) : deltas;
          const rest = current.holdLast ? deltas.slice(-1) : [];
          const finish = () => {
            if (res.destroyed) return;
            for (const delta of rest) chunk([{ index: 0, delta: { content: delta }, finish_reason: null }]);
            // Destroyed once what came before is sent: the client has the deltas, then the break.
            if (current.end === 'cut-off') return void res.write(': the connection breaks here\n\n', () => res.destroy());
            chunk([{ index: 0, delta: {}, finish_reason: 'stop' }]);
            chunk([], { prompt_tokens: 3, completion_tokens: deltas.length, total_tokens: 3 + deltas.length });
            if (current.end !== 'no-done') res.write('data: [DONE]\n\n');
            res.end();
          };
          chunk([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
          for (const delta of first) chunk([{ index: 0, delta: { content: delta }, finish_reason: null }]);
          if (current.holdLast) held.push(finish);
          else finish();
          break;
        }
        case 'endless': {
          res.writeHead(200, { 'content-type': 'application/json' });
          const chunk = `{"pad":"${'x'.repeat(64 * 1024)}"}`;
          const more = () => {
            while (!res.destroyed && res.write(chunk));
            if (!res.destroyed) res.once('drain', more);
          };
          more();
          break;
        }
      }
      notify();
    });
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const fake: FakeOpenAIServer = {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    behaviour,
    release: () => {
      for (const finish of held.splice(0)) finish();
    },
    until: (condition) =>
      new Promise<void>((resolve) => {
        if (condition(fake)) return resolve();
        waiters.push({ condition, resolve });
      }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
  return fake;
}

/** A base URL where nothing listens: a port that was just opened and closed again. */
export async function unreachableBaseUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
  return `http://127.0.0.1:${port}/v1`;
}
