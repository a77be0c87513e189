import { hash, timingSafeEqual } from 'node:crypto';
import { isIPv4 } from 'node:net';

/**
 * Who may use the admin surface. With an admin token configured, a request must carry
 * `Authorization: Bearer <token>`; the comparison takes the same time whatever the guess. With no
 * token configured, only loopback clients are admins.
 */

/** granted; unauthenticated: no or wrong credentials; forbidden: admin is closed to this client. */
export type AdminAccess = 'granted' | 'unauthenticated' | 'forbidden';

export interface AdminCredentials {
  /** The Authorization header, or the `authorization` connection parameter of a WebSocket. */
  readonly authorization: string | null | undefined;
  /** The client's address as the socket reports it. */
  readonly remoteAddress: string | undefined;
}

export type AdminAuthenticator = (credentials: AdminCredentials) => AdminAccess;

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || (isIPv4(v4) && v4.startsWith('127.'));
}

export function createAdminAuthenticator(adminToken: string | undefined): AdminAuthenticator {
  if (adminToken === undefined) {
    return ({ remoteAddress }) => (isLoopback(remoteAddress) ? 'granted' : 'forbidden');
  }
  // Digests have one length whatever the input, as timingSafeEqual requires.
  const expected = hash('sha256', adminToken, 'buffer');
  return ({ authorization }) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (match === null) return 'unauthenticated';
    return timingSafeEqual(hash('sha256', match[1]!, 'buffer'), expected) ? 'granted' : 'unauthenticated';
  };
}
