/**
 * A TCP relay between an OPC UA client and server that can "cut the network": while cut, bytes are
 * swallowed in both directions and new connections are accepted but never forwarded, the way a
 * dead link or a firewall dropping packets looks to a client (no reset, no close).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

export interface CuttableProxy {
  port: number;
  cut(): void;
  restore(): void;
  /** Holds what the server sends (answers are delayed, nothing is lost) until release(). */
  hold(): void;
  /** Chunks the server sent that hold() keeps back so far. */
  heldAnswers(): number;
  release(): void;
  close(): Promise<void>;
}

export async function startProxy(targetPort: number): Promise<CuttableProxy> {
  let isCut = false;
  let holding = false;
  const held: { client: Socket; data: Buffer }[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => {});
    if (isCut) return; // accepted, never forwarded
    const upstream = createConnection(targetPort, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('close', () => {
      sockets.delete(upstream);
      if (!isCut) client.destroy();
    });
    upstream.on('error', () => {});
    client.on('close', () => {
      if (!isCut) upstream.destroy();
    });
    client.on('data', (d) => {
      if (!isCut) upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      if (isCut) return;
      if (holding) held.push({ client, data: d });
      else client.write(d);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    cut: () => {
      isCut = true;
    },
    restore: () => {
      // The black-holed connections stay dead, like after a real outage; new ones go through.
      isCut = false;
      for (const s of sockets) s.destroy();
    },
    hold: () => {
      holding = true;
    },
    heldAnswers: () => held.length,
    release: () => {
      holding = false;
      for (const { client, data } of held.splice(0)) if (!client.destroyed) client.write(data);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
