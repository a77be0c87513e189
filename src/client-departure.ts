import { setMaxListeners } from 'node:events';
import type { ServerResponse } from 'node:http';
import { WebSocket } from 'ws';

/**
 * The signal that an operation's client has gone: its HTTP response closed before it was
 * finished, or its WebSocket closed. One per response or socket (every operation of a socket
 * shares it), made when a load first joins a generation in flight, so that a hit, local or
 * shared, never pays for it.
 */

const departures = new WeakMap<object, AbortSignal>();

export function departureOf({ res, socket }: { readonly res?: ServerResponse; readonly socket?: unknown }): AbortSignal | undefined {
  const connection = socket instanceof WebSocket ? socket : res;
  if (connection === undefined) return undefined;
  let signal = departures.get(connection);
  if (signal !== undefined) return signal;
  const controller = new AbortController();
  signal = controller.signal;
  // One listener per load waiting on a generation: many on one socket are no leak.
  setMaxListeners(0, signal);
  departures.set(connection, signal);
  const depart = () => controller.abort(new Error('the client has gone'));
  if (connection instanceof WebSocket) {
    if (connection.readyState === WebSocket.CLOSING || connection.readyState === WebSocket.CLOSED) depart();
    else connection.once('close', depart);
  } else if (connection.closed) {
    if (!connection.writableFinished) depart();
  } else {
    connection.once('close', () => {
      if (!connection.writableFinished) depart();
    });
  }
  return signal;
}
