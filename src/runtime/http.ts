import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import { Counter, type Registry } from '../engine/prom-client.js';
import type { ServicePipeline } from './service.js';
import type { DeadLetterStore, ReplicaBoard } from '../outbox/types.js';
import { errorMessage, nodeCrypto, redact, silentLogger, type Logger } from '../sdk/index.js';
import { handleConsole, hasAdminToken, type ConsoleOptions } from './console/api.js';
import { RateHistory } from './console/rates.js';
import { ReplicaSharing } from './console/replicas.js';
import { HttpError } from './http-errors.js';
import { httpDate } from './utc-time.js';

export interface HttpOptions {
  host: string;
  port: number;
  pipelines: () => ServicePipeline[];
  metrics: Registry;
  info: () => Record<string, unknown>;
  /** For the dead-letter console at `/`. */
  deadLetters?: DeadLetterStore;
  /** Needed for the console's actions, and for reading it when not bound to loopback. */
  adminToken?: string;
  /**
   * Host names the server answers to besides its bound address, localhost and loopback literals
   * (and any IP literal when bound to all interfaces). `.example.com` allows every name under it.
   */
  allowedHosts?: readonly string[];
  logger?: Logger;
  /** With Redis: share this replica's figures and show every replica's. */
  replicas?: { board: ReplicaBoard; replica: string; startedAt: number; everyMs?: number };
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function isWildcard(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::';
}

/** The name part of a Host header, lower case, without port, brackets or a final dot; undefined if malformed. */
function hostName(header: string): string | undefined {
  let name: string;
  const bracketed = /^\[([0-9a-f:.]+)\](?::\d{1,5})?$/i.exec(header);
  if (bracketed) name = bracketed[1]!;
  else if (isIP(header) === 6) name = header;
  else {
    const m = /^([^:]+)(?::\d{1,5})?$/.exec(header);
    if (!m) return undefined;
    name = m[1]!;
  }
  name = name.toLowerCase().replace(/\.$/, '');
  // Letters, digits, dots, hyphens, underscores (and colons in IPv6): anything else is no host name.
  return /^[a-z0-9._:-]+$/.test(name) ? name : undefined;
}

/**
 * The DNS-rebinding guard: a page on an attacker's name that resolves to this server sends that
 * name as Host. Answered: localhost and loopback literals, the bound address, the allowed names,
 * and any IP literal when bound to all interfaces (an IP literal in the URL makes the browser's
 * origin that IP, which no other site can read; Kubernetes probes send the pod IP). The port is
 * not checked: port-forwards and container port mappings change it, and the name is what a
 * rebinding attack controls.
 */
export function hostAllowed(
  header: string | undefined,
  boundHost: string,
  allowed: readonly string[],
): boolean {
  if (header === undefined) return false;
  const name = hostName(header);
  if (name === undefined) return false;
  if (name === 'localhost' || isLoopback(name)) return true;
  const bound = boundHost.toLowerCase().replace(/^\[|\]$/g, '');
  if (name === bound) return true;
  if (isWildcard(bound) && isIP(name) !== 0) return true;
  for (const entry of allowed) {
    const want = entry.toLowerCase().replace(/\.$/, '');
    if (want.startsWith('.') ? name.endsWith(want) || name === want.slice(1) : name === want) return true;
  }
  return false;
}

/** `--allowed-host` values and `PASSERELLE_ALLOWED_HOSTS` (comma or space separated), checked. */
export function parseAllowedHosts(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const value of values)
    for (const entry of value.split(/[\s,]+/)) {
      if (entry === '') continue;
      if (!/^\.?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?$/i.test(entry) && isIP(entry.replace(/^\[|\]$/g, '')) === 0)
        throw new Error(
          `allowed host "${entry}" is not a host name (a name such as passerelle.example.com, .example.com for every name under it, or an IP address; no port, no scheme)`,
        );
      out.push(entry.replace(/^\[|\]$/g, ''));
    }
  return out;
}

const REFUSED_LOG_EVERY_MS = 60_000;

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
  const logger = options.logger ?? silentLogger;
  const allowedHosts = options.allowedHosts ?? [];
  const refused =
    (options.metrics.getSingleMetric('passerelle_http_requests_refused_total') as
      Counter<'reason'> | undefined) ??
    new Counter({
      name: 'passerelle_http_requests_refused_total',
      help: 'HTTP requests refused before routing (reason="host": a Host header that names no name of this server).',
      labelNames: ['reason'],
      registers: [options.metrics],
    });
  refused.inc({ reason: 'host' }, 0);
  let lastRefusalLog = 0;
  if (!isLoopback(options.host) && !options.adminToken)
    logger.warn(
      { host: options.host, port: options.port },
      `the HTTP server listens on ${options.host}, reachable from the network, without an admin token: the status page, its API and /status answer 401 there, /healthz, /readyz and /metrics stay open. Set PASSERELLE_ADMIN_TOKEN (or --admin-token-file) to read them remotely, or bind to 127.0.0.1.`,
    );
  const rates = new RateHistory(options.metrics);
  rates.start();
  const sharing = options.replicas
    ? new ReplicaSharing({ ...options.replicas, pipelines: options.pipelines, rates, logger })
    : undefined;
  sharing?.start();
  const consoleOptions: ConsoleOptions = {
    pipelines: options.pipelines,
    deadLetters: options.deadLetters,
    rates,
    adminToken: options.adminToken,
    loopback: isLoopback(options.host),
    info: options.info,
    ...(sharing ? { replicas: () => sharing.list() } : {}),
  };
  const server = createServer((req, res) => {
    // Node's own Date header calls Date#toUTCString (utc-time.ts).
    res.sendDate = false;
    res.setHeader('date', httpDate(Date.now()));
    if (!hostAllowed(req.headers.host, options.host, allowedHosts)) {
      refused.inc({ reason: 'host' });
      const now = Date.now();
      if (now - lastRefusalLog >= REFUSED_LOG_EVERY_MS) {
        lastRefusalLog = now;
        logger.warn(
          { host: String(req.headers.host ?? '').slice(0, 100), path: (req.url ?? '').slice(0, 100) },
          'HTTP request refused: its Host header is not a name of this server (DNS rebinding guard; allow names with --allowed-host or PASSERELLE_ALLOWED_HOSTS); logged at most once a minute, counted in passerelle_http_requests_refused_total',
        );
      }
      send(
        res,
        421,
        'text/plain; charset=utf-8',
        'misdirected request: the Host header does not name this server (allow a name with --allowed-host or PASSERELLE_ALLOWED_HOSTS)\n',
      );
      return;
    }
    handle(req, res, options, consoleOptions).catch((error: unknown) => {
      if (error instanceof HttpError) {
        if (res.headersSent) res.destroy();
        else send(res, error.status, 'text/plain; charset=utf-8', `${error.message}\n`);
        return;
      }
      // Details (messages, stacks, paths) go to the log under an id, never to the client.
      const errorId = nodeCrypto().randomBytes(6).toString('hex');
      logger.error(
        {
          errorId,
          path: (req.url ?? '').slice(0, 200),
          err: redact(errorMessage(error)),
          stack: redact(error instanceof Error ? (error.stack ?? '') : ''),
        },
        'HTTP request failed',
      );
      if (res.headersSent) res.destroy();
      else
        send(
          res,
          500,
          'text/plain; charset=utf-8',
          `internal error (id ${errorId}); the service log has the details\n`,
        );
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
        sharing?.stop();
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
      // Refresh the gauges (outbox depth, in flight) before a scrape; status() would also copy
      // every recent message and current value, for nothing, at each scrape.
      await Promise.all(options.pipelines().map((p) => p.refreshGauges()));
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
        redact(JSON.stringify({ ...options.info(), pipelines }, bytesReplacer, 2)) + '\n',
      );
    }
    default:
      return send(res, 404, 'text/plain', 'not found: try /, /healthz, /readyz, /metrics or /status\n');
  }
}

/** Strings redacted before serialisation (JSON escaping could hide a secret from a later pass); bigints as text. */
function bytesReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'string') return redact(value);
  return typeof value === 'bigint' ? value.toString() : value;
}

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(body);
}
