import { pino, type DestinationStream, type Logger } from 'pino';
import type { CacheEvent, CacheStore } from './cache/store.js';
import type { LogLevel } from './config.js';
import type { GenerationEvent, GenerationService } from './generation/service.js';

export type { Logger };

/** Structured JSON logs on stdout (or the given stream). */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino({ name: 'gencache', level }, destination);
}

/** Logs generator failures and cache reconfigurations as they happen; returns the detacher. */
export function logServiceEvents(service: GenerationService, cache: CacheStore, logger: Logger): () => void {
  const onGeneration = ({ key, model, durationMs, error }: GenerationEvent) => {
    if (error !== undefined) {
      // The cause holds what clients are not told (the upstream's address and answer).
      const detail = error.cause instanceof Error ? error.cause.message : undefined;
      logger.warn({ key, model, durationMs, code: error.code, err: error, detail }, 'generation failed');
    }
  };
  const onCacheEvent = (event: CacheEvent) => {
    if (event.type === 'CONFIG') logger.info({ cache: event.settings }, 'cache configuration changed');
  };
  service.events.on('generation', onGeneration);
  cache.events.on('event', onCacheEvent);
  return () => {
    service.events.off('generation', onGeneration);
    cache.events.off('event', onCacheEvent);
  };
}
