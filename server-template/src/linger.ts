/**
 * Lingering close, as nginx's `lingering_close`: a reply sent before the request's body was read (413
 * for a body over the limit, a body the parser refused, a route that reads no body) may close the
 * connection (fastify closes it after a refused body, a client may ask for it), and a socket closed with
 * the client's bytes still arriving makes the kernel answer them with a reset, which destroys the reply
 * in the client's buffers before a client still busy sending reads it: the client sees EPIPE or
 * ECONNRESET instead of the 413 that says what to fix. Node's http server has no option for this, so,
 * by hand: after the reply, the socket half-closes (FIN) and goes on reading (the http server discards
 * the rest of the body) until the client closes its side, or for at most `ms`.
 */
import type { Socket } from 'node:net';

/** How long a connection may keep sending after its reply, by default. */
export const LINGER_MS = 5_000;

/** Makes the http server's close of `socket` (destroySoon, after a `connection: close` reply) linger. */
export function lingerOnClose(socket: Socket, ms = LINGER_MS): void {
  socket.destroySoon = function lingeringDestroySoon(this: Socket): void {
    if (this.writable) this.end();
    const timer = setTimeout(() => this.destroy(), ms);
    timer.unref();
    this.once('end', () => this.destroy());
    this.once('close', () => clearTimeout(timer));
  };
}
