import { hash, timingSafeEqual } from 'node:crypto';
import { isIP, isIPv4 } from 'node:net';

/**
 * Who may use the admin surface. With an admin token configured, a request must carry
 * `Authorization: Bearer <token>`; the comparison takes the same time whatever the guess. With no
 * token configured, only requests from this machine to this machine are admins: the client's
 * address is loopback, the `Host` it asked for is a loopback name or address (so a page whose
 * name was rebound to 127.0.0.1 is refused), and its `Origin`, if it sends one, is the server's
 * own (so a page of another site in a browser on this machine is refused).
 */

/** granted; unauthenticated: no or wrong credentials; forbidden: admin is closed to this client. */
export type AdminAccess = 'granted' | 'unauthenticated' | 'forbidden';

export interface AdminCredentials {
  /** The Authorization header, or the `authorization` connection parameter of a WebSocket. */
  readonly authorization: string | null | undefined;
  /** The client's address as the socket reports it. */
  readonly remoteAddress: string | undefined;
  /** The Host header of the request (of the upgrade request, for a WebSocket). */
  readonly host: string | null | undefined;
  /** The Origin header, which browsers send with cross-origin requests, POSTs and WebSockets. */
  readonly origin: string | null | undefined;
}

export type AdminAuthenticator = (credentials: AdminCredentials) => AdminAccess;

export function isLoopback(address: string | undefined): boolean {
  if (address === undefined) return false;
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address;
  return address === '::1' || (isIPv4(v4) && v4.startsWith('127.'));
}

/** The host name of a Host header (`name`, `name:port`, `[v6]` or `[v6]:port`), lower-cased; undefined when it is not one. */
function hostName(host: string): string | undefined {
  const match = /^(?:\[([0-9a-f:.]+)\]|([^:[\]\s/]+))(?::\d{1,5})?$/i.exec(host);
  if (match === null) return undefined;
  return (match[1] ?? match[2]!).toLowerCase();
}

/** Whether a Host header names this machine by a loopback name or address. */
export function isLoopbackHost(host: string | null | undefined): boolean {
  if (host == null) return false;
  const name = hostName(host);
  if (name === undefined) return false;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  return isIP(name) !== 0 && isLoopback(name);
}

/** Whether an Origin is the server's own, as the request's Host names it (http, the same host and port). */
function isOwnOrigin(origin: string, host: string): boolean {
  return origin.toLowerCase() === `http://${host.toLowerCase()}`;
}

export function createAdminAuthenticator(adminToken: string | undefined): AdminAuthenticator {
  if (adminToken === undefined) {
    return ({ remoteAddress, host, origin }) =>
      isLoopback(remoteAddress) && isLoopbackHost(host) && (origin == null || isOwnOrigin(origin, host!)) ? 'granted' : 'forbidden';
  }
  // Digests have one length whatever the input, as timingSafeEqual requires.
  const expected = hash('sha256', adminToken, 'buffer');
  return ({ authorization }) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (match === null) return 'unauthenticated';
    return timingSafeEqual(hash('sha256', match[1]!, 'buffer'), expected) ? 'granted' : 'unauthenticated';
  };
}
