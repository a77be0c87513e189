import { Writable } from 'node:stream';
import type { LogLevel } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/logger.js';

/** A logger at `level`, and the JSON lines it has written, parsed. */
export function captureLogs(level: LogLevel): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: createLogger(level, stream), lines };
}
