import { existsSync, readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServicePipeline } from '../service.js';
import type { DeadLetter, DeadLetterStore } from '../../outbox/types.js';
import { boundedCopy, nodeCrypto, redact, type CopyLimits } from '../../sdk/index.js';
import { decodeComponent, requestUrl } from '../http-errors.js';
import type { RateHistory } from './rates.js';

/**
 * The status page and dead-letter console: static assets, a read API and two actions (replay,
 * purge). Actions always need the admin token; reading needs it too unless the server listens on
 * loopback only.
 */
export interface ConsoleOptions {
  pipelines: () => ServicePipeline[];
  deadLetters: DeadLetterStore | undefined;
  rates: RateHistory;
  /** The admin token (a secret); without it, actions are disabled. */
  adminToken: string | undefined;
  /** True when the HTTP server is bound to a loopback address only. */
  loopback: boolean;
  info: () => Record<string, unknown>;
  /** Every replica's counters and current values (Redis only). */
  replicas?: () => Promise<unknown[]>;
}

const require = createRequire(import.meta.url);
const ASSETS: Record<string, { file: () => string; type: string }> = {
  '/': { file: () => asset('index.html'), type: 'text/html; charset=utf-8' },
  '/assets/console.js': { file: () => asset('console.js'), type: 'text/javascript; charset=utf-8' },
  '/assets/console.css': { file: () => asset('console.css'), type: 'text/css; charset=utf-8' },
  '/assets/uplot.js': {
    file: () => require.resolve('uplot/dist/uPlot.iife.min.js'),
    type: 'text/javascript; charset=utf-8',
  },
  '/assets/uplot.css': {
    file: () => require.resolve('uplot/dist/uPlot.min.css'),
    type: 'text/css; charset=utf-8',
  },
};

/** The assets live in src/runtime/console/assets (the build does not copy them into dist/). */
function asset(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    for (const candidate of [join(dir, 'assets'), join(dir, 'src/runtime/console/assets')])
      if (existsSync(join(candidate, name))) return join(candidate, name);
    dir = dirname(dir);
  }
  throw new Error(`console asset ${name} not found`);
}

const cache = new Map<string, Buffer>();
const MAX_BODY = 1024 * 1024;
const MAX_PREVIEW = 300;
const PREVIEW_LIMITS: CopyLimits = { maxDepth: 8, maxBytes: 2 * MAX_PREVIEW, maxString: MAX_PREVIEW };
/** One dead letter in the console's detail view. */
const DETAIL_LIMITS: CopyLimits = { maxDepth: 32, maxBytes: 128 * 1024, maxString: 16 * 1024 };

/** Handles the console's routes; returns false for any other path. */
export async function handleConsole(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  options: ConsoleOptions,
): Promise<boolean> {
  const method = req.method ?? 'GET';
  const staticAsset = ASSETS[path];
  if (staticAsset && (method === 'GET' || method === 'HEAD')) {
    const file = staticAsset.file();
    let body = cache.get(file);
    if (!body) {
      body = readFileSync(file);
      cache.set(file, body);
    }
    res.writeHead(200, {
      'content-type': staticAsset.type,
      'cache-control': 'no-cache',
      'content-security-policy':
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; connect-src 'self'",
      'x-content-type-options': 'nosniff',
    });
    res.end(method === 'HEAD' ? undefined : body);
    return true;
  }
  if (!path.startsWith('/api/')) return false;

  const write = method === 'POST';
  if (!write && method !== 'GET') {
    json(res, 405, { error: 'method not allowed' });
    return true;
  }
  const auth = authorise(req, options, write);
  if (auth) {
    json(res, auth.status, { error: auth.error });
    return true;
  }
  const url = requestUrl(req.url);

  if (path === '/api/overview' && !write) {
    const pipelines = await Promise.all(
      options.pipelines().map(async (p) => ({ ...(await p.status()), rates: options.rates.get(p.name) })),
    );
    // Another replica's figures are a bonus: Redis trouble must not take the page down.
    const replicas = options.replicas ? await options.replicas().catch(() => undefined) : undefined;
    json(res, 200, {
      ...options.info(),
      auth: { actions: Boolean(options.adminToken) },
      pipelines,
      ...(replicas ? { replicas } : {}),
    });
    return true;
  }

  const dlq = options.deadLetters;
  if (path.startsWith('/api/dead-letters') && !dlq) {
    json(res, 404, { error: 'no dead-letter store' });
    return true;
  }
  if (path === '/api/dead-letters' && !write && dlq) {
    const filter = {
      pipeline: url.searchParams.get('pipeline') || undefined,
      reason: url.searchParams.get('reason') || undefined,
      stage: url.searchParams.get('stage') || undefined,
    };
    const limit = clamp(Number(url.searchParams.get('limit') ?? 100), 1, 1000);
    const offset = clamp(Number(url.searchParams.get('offset') ?? 0), 0, Number.MAX_SAFE_INTEGER);
    const [total, items] = await Promise.all([dlq.count(filter), dlq.list({ ...filter, limit, offset })]);
    json(res, 200, { total, items: items.map(summary) });
    return true;
  }
  const one = /^\/api\/dead-letters\/([^/]+)$/.exec(path);
  if (one && !write && dlq) {
    const entry = await dlq.get(decodeComponent(one[1]!));
    if (!entry) json(res, 404, { error: 'no such dead letter' });
    else json(res, 200, { ...entry, message: renderMessage(entry.message, DETAIL_LIMITS) });
    return true;
  }
  const action = /^\/api\/dead-letters\/(replay|purge)$/.exec(path);
  if (action && write && dlq) {
    const body = await readJson(req).catch((error: Error) => error);
    const ids = body instanceof Error ? undefined : (body as { ids?: unknown }).ids;
    if (!Array.isArray(ids) || ids.length === 0 || !ids.every((id) => typeof id === 'string')) {
      json(res, 400, {
        error:
          body instanceof Error ? body.message : 'expected a JSON body {"ids": ["<dead letter id>", ...]}',
      });
      return true;
    }
    if (action[1] === 'replay') {
      const { marked, refused } = await dlq.requestReplay(ids);
      json(res, 200, { replayed: marked, refused });
    } else {
      json(res, 200, { purged: await dlq.remove(ids) });
    }
    return true;
  }
  json(res, 404, { error: 'not found' });
  return true;
}

function authorise(
  req: IncomingMessage,
  options: ConsoleOptions,
  write: boolean,
): { status: number; error: string } | undefined {
  const valid = hasAdminToken(req, options.adminToken);
  if (write) {
    if (!options.adminToken)
      return {
        status: 403,
        error:
          'actions are disabled: start passerelle with an admin token (PASSERELLE_ADMIN_TOKEN or --admin-token-file)',
      };
    if (!valid) return { status: 401, error: 'the admin token is missing or wrong' };
    return undefined;
  }
  if (options.loopback || valid) return undefined;
  return {
    status: 401,
    error: options.adminToken
      ? 'this server is reachable from the network: give the admin token to read it'
      : 'this server is reachable from the network and has no admin token: the console is closed',
  };
}

/** True when the request carries `Authorization: Bearer <token>` with this token (compared in constant time). */
export function hasAdminToken(req: IncomingMessage, token: string | undefined): boolean {
  const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
  if (!token || given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && nodeCrypto().timingSafeEqual(a, b);
}

function summary(entry: DeadLetter) {
  return {
    id: entry.id,
    pipeline: entry.pipeline,
    stage: entry.stage,
    reason: entry.reason,
    time: entry.time,
    attempts: entry.attempts,
    preview: preview(entry.message.payload),
  };
}

function preview(payload: unknown): string {
  const copy = boundedCopy(payload, PREVIEW_LIMITS);
  const text = typeof copy === 'string' ? copy : (JSON.stringify(copy, replacer) ?? String(copy));
  return text.length > MAX_PREVIEW ? `${text.slice(0, MAX_PREVIEW - 3)}...` : text;
}

/** A dead letter's message as shown: payload and meta bounded in depth and size (a payload can be anything). */
function renderMessage(message: DeadLetter['message'], limits: CopyLimits): unknown {
  return {
    ...message,
    payload: boundedCopy(message.payload, limits),
    meta: boundedCopy(message.meta, limits),
  };
}

/**
 * Every string passes through redact() before it is serialised (after, a secret would be
 * JSON-escaped and could escape the masking); bigints as text.
 */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'string') return redact(value);
  if (typeof value === 'bigint') return value.toString();
  return value;
}

/** Serialised before the head is written, so a failure is still a clean 500. */
function json(res: ServerResponse, status: number, body: unknown): void {
  const text = redact(JSON.stringify(body, replacer));
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(text);
}

function clamp(n: number, min: number, max: number): number {
  return Number.isFinite(n) ? Math.min(max, Math.max(min, Math.trunc(n))) : min;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('request body larger than 1 MiB');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new Error('the request body is not JSON');
  }
}
