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
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** How long a connection may keep sending after its reply, by default. */
export const LINGER_MS = 5_000;

/**
 * Called as the reply to `request` goes out: when part of a body it declared has not arrived yet,
 * makes the http server's close of the connection (destroySoon, after a `connection: close` reply)
 * linger. A request without a body is complete as soon as its headers are parsed, so it never lingers.
 */
export function lingerIfBodyUnread(request: IncomingMessage, ms = LINGER_MS): void {
  const declaresBody =
    request.headers['transfer-encoding'] !== undefined || Number(request.headers['content-length'] ?? 0) > 0;
  if (declaresBody && !request.complete) lingerOnClose(request.socket, ms);
}

function lingerOnClose(socket: Socket, ms: number): void {
  socket.destroySoon = function lingeringDestroySoon(this: Socket): void {
    if (this.writable) this.end();
    // The client already closed its side: nothing more will arrive.
    if (this.readableEnded) {
      if (this.writableFinished) this.destroy();
      else this.once('finish', () => this.destroy());
      return;
    }
    const timer = setTimeout(() => this.destroy(), ms);
    timer.unref();
    this.once('end', () => this.destroy());
    this.once('close', () => clearTimeout(timer));
  };
}
