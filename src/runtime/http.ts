import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Pipeline } from '../engine/pipeline.js';
import type { DeadLetterStore } from '../outbox/types.js';
import { handleConsole, hasAdminToken, type ConsoleOptions } from './console/api.js';
import { RateHistory } from './console/rates.js';

export interface HttpOptions {
  host: string;
  port: number;
  pipelines: () => Pipeline[];
  metrics: Registry;
  info: () => Record<string, unknown>;
  /** For the dead-letter console at `/`. */
  deadLetters?: DeadLetterStore;
  /** Needed for the console's actions, and for reading it when not bound to loopback. */
  adminToken?: string;
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Parses `HOST:PORT`, `:PORT` or `PORT`; the host defaults to 127.0.0.1 (never all interfaces unless asked). */
export function parseListen(value: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d+)$/.exec(value.trim());
  if (!m) throw new Error(`--http expects HOST:PORT (e.g. 127.0.0.1:8080), got "${value}"`);
  const port = Number(m[2]);
  if (port > 65535) throw new Error(`--http port ${port} is out of range`);
  return { host: m[1] || '127.0.0.1', port };
}

/** /healthz (alive), /readyz (every source and sink connected), /metrics (Prometheus), /status (JSON). */
export async function startHttpServer(
  options: HttpOptions,
): Promise<{ server: Server; url: string; close(): Promise<void> }> {
  const rates = new RateHistory(options.metrics);
  rates.start();
  const consoleOptions: ConsoleOptions = {
    pipelines: options.pipelines,
    deadLetters: options.deadLetters,
    rates,
    adminToken: options.adminToken,
    loopback: isLoopback(options.host),
    info: options.info,
  };
  const server = createServer((req, res) => {
    handle(req, res, options, consoleOptions).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`internal error: ${error instanceof Error ? error.message : String(error)}\n`);
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return {
    server,
    url: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        rates.stop();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  options: HttpOptions,
  consoleOptions: ConsoleOptions,
): Promise<void> {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (await handleConsole(req, res, path, consoleOptions)) return;
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD' }).end();
    return;
  }
  switch (path) {
    case '/healthz':
      return send(res, 200, 'text/plain', 'ok\n');
    case '/readyz': {
      const notReady = options.pipelines().filter((p) => !p.ready());
      if (notReady.length === 0) return send(res, 200, 'text/plain', 'ready\n');
      return send(res, 503, 'text/plain', `not ready: ${notReady.map((p) => p.name).join(', ')}\n`);
    }
    case '/metrics': {
      // Refresh the gauges (outbox depth, in flight) before a scrape.
      await Promise.all(options.pipelines().map((p) => p.status()));
      return send(res, 200, options.metrics.contentType, await options.metrics.metrics());
    }
    case '/status': {
      // It shows recent messages: closed to the network like the console's read API.
      if (!consoleOptions.loopback && !hasAdminToken(req, options.adminToken))
        return send(res, 401, 'text/plain', 'the admin token is needed to read /status from the network\n');
      const pipelines = await Promise.all(options.pipelines().map((p) => p.status()));
      return send(
        res,
        200,
        'application/json',
        JSON.stringify({ ...options.info(), pipelines }, bytesReplacer, 2) + '\n',
      );
    }
    default:
      return send(res, 404, 'text/plain', 'not found: try /, /healthz, /readyz, /metrics or /status\n');
  }
}

function bytesReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
