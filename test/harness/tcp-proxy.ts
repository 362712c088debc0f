import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy in front of a service, for tests of connections that vanish mid-write: it can hold
 * the service's answers (pause/resume) or drop every connection (stop, then start again).
 */
export class TcpProxy {
  port = 0;
  private server: Server | undefined;
  private sockets = new Set<Socket>();
  private paused = false;
  private held: (() => void)[] = [];

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = tcpConnect(this.targetPort, '127.0.0.1');
      this.sockets.add(client).add(upstream);
      client.on('data', (d) => upstream.write(d));
      upstream.on('data', (d) => {
        if (this.paused) this.held.push(() => !client.destroyed && client.write(d));
        else client.write(d);
      });
      const kill = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('close', kill).on('error', kill);
      upstream.on('close', kill).on('error', kill);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    const address = server.address();
    this.port = typeof address === 'object' && address ? address.port : 0;
    this.server = server;
  }

  /** Chunks of answers kept back by pause() so far (until resume()). */
  get heldAnswers(): number {
    return this.held.length;
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    for (const f of this.held.splice(0)) f();
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    this.held = [];
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
