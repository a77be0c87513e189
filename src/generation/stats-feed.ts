/**
 * Statistics for many subscribers: one timer and one reading per distinct interval and tick,
 * however many subscribe at that interval. A timer stops when its last subscriber leaves.
 */
export class StatsFeed<TStats> {
  readonly #read: () => TStats;
  readonly #intervals = new Map<number, { readonly timer: NodeJS.Timeout; readonly listeners: Set<(stats: TStats) => void> }>();

  constructor(read: () => TStats) {
    this.#read = read;
  }

  /** Calls the listener with a reading every `intervalMs`; returns the unsubscriber. */
  subscribe(intervalMs: number, listener: (stats: TStats) => void): () => void {
    let interval = this.#intervals.get(intervalMs);
    if (interval === undefined) {
      const listeners = new Set<(stats: TStats) => void>();
      const timer = setInterval(() => {
        const stats = this.#read();
        for (const each of listeners) each(stats);
      }, intervalMs);
      // Subscribers' connections keep the process alive, not this timer.
      timer.unref();
      interval = { timer, listeners };
      this.#intervals.set(intervalMs, interval);
    }
    const { listeners, timer } = interval;
    listeners.add(listener);
    return () => {
      if (!listeners.delete(listener) || listeners.size > 0) return;
      clearInterval(timer);
      this.#intervals.delete(intervalMs);
    };
  }

  /** Timers running: one per distinct interval with subscribers. */
  get timers(): number {
    return this.#intervals.size;
  }
}
