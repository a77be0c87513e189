import { hash } from 'node:crypto';
import canonicalize from 'canonicalize';

/**
 * Cache keys. A key is `sha256(generatorId, canonicalJSON(input))`: the input is serialised as
 * RFC 8785 canonical JSON (object keys sorted, numbers in their shortest form), so two inputs
 * that mean the same generation share a key, and any difference in a value gives another.
 */

/** Canonical JSON (RFC 8785) of a JSON value; throws a `TypeError` naming what is not JSON. */
export function canonicalJson(value: unknown): string {
  let serialised: string | undefined;
  try {
    serialised = canonicalize(value);
  } catch (error) {
    throw new TypeError(`not canonicalisable as JSON: ${(error as Error).message}`);
  }
  if (serialised === undefined) throw new TypeError(`not a JSON value: ${typeof value}`);
  return serialised;
}

/** The key of a canonical input under one generator (its id carries its version). */
export function generationKey(generatorId: string, canonicalInput: string): string {
  // A newline cannot occur in a generator id, so the pair is unambiguous.
  return hash('sha256', `${generatorId}\n${canonicalInput}`, 'hex');
}
