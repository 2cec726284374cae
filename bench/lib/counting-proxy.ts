/**
 * A TCP pass-through in front of the benchmark registry that counts the bytes clients send (uploads)
 * and receive (downloads), so our builder and `docker push` are measured the same way.
 */
import { createConnection, createServer, type AddressInfo } from 'node:net';

export interface CountingProxy {
  host: string;
  sent: number;
  received: number;
  reset(): void;
  stop(): Promise<void>;
}

export async function startCountingProxy(targetPort: number): Promise<CountingProxy> {
  const sockets = new Set<import('node:net').Socket>();
  const state = { sent: 0, received: 0 };
  const server = createServer((client) => {
    const up = createConnection({ host: '127.0.0.1', port: targetPort });
    sockets.add(client).add(up);
    client.on('data', (c: Buffer) => (state.sent += c.length));
    up.on('data', (c: Buffer) => (state.received += c.length));
    client.pipe(up).on('error', () => client.destroy());
    up.pipe(client).on('error', () => up.destroy());
    const close = (): void => {
      client.destroy();
      up.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    client.on('close', close).on('error', close);
    up.on('close', close).on('error', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    get sent() {
      return state.sent;
    },
    get received() {
      return state.received;
    },
    reset() {
      state.sent = 0;
      state.received = 0;
    },
    stop: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
