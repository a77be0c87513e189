import type { ErrorCode } from '../errors.js';

/**
 * Single-flight across instances: before generating a key it will store, the service asks the
 * coordinator whether this instance generates it or waits for another that already does. The
 * service's own single-flight joins the requests of one instance; this joins instances.
 */

/**
 * How a generation ended, as its waiters on other instances learn it. `ok`: they read what it
 * stored, and claim it again if nothing was (a generation abandoned by its own clients ends so).
 */
export type FlightOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

export type FlightClaim =
  /** This instance generates; `release` when done, so that the waiters elsewhere learn how it ended. */
  | { readonly kind: 'generate'; release(outcome: FlightOutcome): void }
  /**
   * Another instance generates. `settled` resolves with the outcome it announced, or undefined
   * when its claim lapsed without one (the holder died, or the coordinator lost track): then
   * look again, and claim again.
   */
  | { readonly kind: 'wait'; readonly settled: Promise<FlightOutcome | undefined> };

export interface FlightCoordinator {
  /** Never rejects: a coordinator that cannot tell lets this instance generate. */
  claim(key: string): Promise<FlightClaim>;
}
