import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpClient } from './http.js';

/*
 * A kept-alive connection that the server drops just as the next request goes out (an idle timeout
 * racing a write) fails with ECONNRESET on reuse: the client sends that request once more on a new
 * connection instead of reporting the server unreachable.
 */

const servers: { close(): void }[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** Answers 204 to the first request of each connection and resets the connection at its second. */
async function oneRequestPerConnection(): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    connections++;
    sockets.push(socket);
    let requests = 0;
    socket.on('data', (data: Buffer) => {
      if (!data.toString('latin1').includes('\r\n\r\n')) return;
      if (++requests === 1) socket.write('HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n');
      else socket.resetAndDestroy();
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push({ close: () => (sockets.forEach((s) => s.destroy()), server.close()) });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
  };
}

describe('HttpClient', () => {
  it('sends a request again on a new connection when a reused one is reset', async () => {
    const server = await oneRequestPerConnection();
    const client = new HttpClient(new URL(server.url), {}, 5000);
    const signal = AbortSignal.timeout(5000);
    expect((await client.post('/write', {}, {}, 'm v=1', signal)).status).toBe(204);
    expect((await client.post('/write', {}, {}, 'm v=2', signal)).status).toBe(204);
    expect(server.connections()).toBe(2);
    client.close();
  });

  it('reports a reset of a new connection (the server is really gone)', async () => {
    const server = createServer((socket) => socket.resetAndDestroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const client = new HttpClient(
      new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
      {},
      5000,
    );
    await expect(client.post('/write', {}, {}, 'm v=1', AbortSignal.timeout(5000))).rejects.toMatchObject({
      code: 'ECONNRESET',
    });
    client.close();
  });
});
