import { pino, type DestinationStream, type Logger } from 'pino';
import type { CacheSettings } from './cache/settings.js';
import type { CacheEvent, CacheStore } from './cache/store.js';
import type { LogLevel } from './config.js';
import type { GenerationEvent, GenerationService } from './generation/service.js';

export type { Logger };

/** Structured JSON logs on stdout (or the given stream). */
export function createLogger(level: LogLevel, destination?: DestinationStream): Logger {
  return pino({ name: 'gencache', level }, destination);
}

/**
 * Logs generator failures and cache reconfigurations as they happen; returns the detacher. A
 * reconfiguration is one `info` line whatever made it (the admin mutation, the REST endpoint,
 * another instance of the fleet), with the settings before and after; one that changes nothing
 * is no line.
 */
export function logServiceEvents(service: GenerationService, cache: CacheStore, logger: Logger): () => void {
  let settings = cache.settings;
  const onGeneration = ({ key, model, durationMs, error }: GenerationEvent) => {
    if (error !== undefined) {
      // The cause holds what clients are not told (the upstream's address and answer).
      const detail = error.cause instanceof Error ? error.cause.message : undefined;
      logger.warn({ key, model, durationMs, code: error.code, err: error, detail }, 'generation failed');
    }
  };
  const onCacheEvent = (event: CacheEvent) => {
    if (event.type !== 'CONFIG' || sameSettings(event.settings, settings)) return;
    logger.info({ cache: event.settings, previous: settings }, 'cache configuration changed');
    settings = event.settings;
  };
  service.events.on('generation', onGeneration);
  cache.events.on('event', onCacheEvent);
  return () => {
    service.events.off('generation', onGeneration);
    cache.events.off('event', onCacheEvent);
  };
}

const sameSettings = (a: CacheSettings, b: CacheSettings): boolean =>
  (Object.keys(a) as (keyof CacheSettings)[]).every((name) => a[name] === b[name]);
