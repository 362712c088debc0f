import { readFile } from 'node:fs/promises';
import type { RequestOptions } from 'node:https';
import { InfluxDB } from 'influx';
// Not re-exported by the package root; the class node-influx rejects with on a 5xx or a timeout.
import { RequestError, ServiceNotAvailableError } from 'influx/lib/src/pool.js';
import {
  BatchError,
  FatalError,
  NotConnectedError,
  RetryableError,
  SinkStoppedError,
  backoffDelay,
  errorMessage,
  redact,
  redactUrl,
  untilAborted,
  type BatchFailure,
  type ComponentContext,
  type ComponentCounter,
  type Message,
  type Sink,
} from '../../src/sdk/index.js';
import { PointError, PointMapper, type MappedPoint } from './point.js';
import { writePrecision, type InfluxdbSinkConfig } from './spec.js';

/** Precision names of the /write API. */
const WRITE_PRECISION = { s: 's', ms: 'ms', us: 'u', ns: 'n' } as const;

/** node-influx's request pool (hosts, TLS options, timeouts, its error classes), which writePoints() uses. */
interface InfluxPool {
  discard(options: {
    method: 'POST';
    path: string;
    query: Record<string, string | undefined>;
    body: string;
    auth?: string;
  }): Promise<void>;
}

/** node-influx disables a failing host for a backoff; we keep one host always enabled and do our own retries. */
const NO_HOST_BACKOFF = {
  getDelay: () => 0,
  next() {
    return this;
  },
  reset() {
    return this;
  },
};

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

interface Entry {
  index: number;
  mapped: MappedPoint;
}

/** What one HTTP write came back with, when it is not a success. */
type WriteFailure =
  | { kind: 'rejected'; message: string }
  | { kind: 'tooLarge'; message: string }
  | { kind: 'error'; error: Error };

type Health = 'closed' | 'connected' | 'down' | 'stopped';

const PROBE_MIN_MS = 250;
const PROBE_MAX_MS = 5000;

export class InfluxdbSink implements Sink {
  private client: InfluxDB | undefined;
  private readonly mapper: PointMapper;
  private readonly where: string;
  private health: Health = 'closed';
  private stopError: SinkStoppedError | undefined;
  private downError: Error | undefined;
  private lastOk = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private probeFailures = 0;
  private probing = false;
  private readonly pointsWritten: ComponentCounter;
  private readonly pointsRejected: ComponentCounter;
  private readonly requests: ComponentCounter;

  constructor(
    private readonly config: InfluxdbSinkConfig,
    private readonly ctx: ComponentContext,
  ) {
    this.mapper = new PointMapper(config, ctx.pipeline);
    this.where = `InfluxDB at ${redactUrl(config.url)}`;
    this.pointsWritten = ctx.metrics.counter(
      'passerelle_influxdb_points_written_total',
      'Points InfluxDB accepted.',
    );
    this.pointsRejected = ctx.metrics.counter(
      'passerelle_influxdb_points_rejected_total',
      'Messages that did not become a stored point (unmappable, or refused by InfluxDB), dead-lettered.',
      ['cause'],
    );
    this.requests = ctx.metrics.counter(
      'passerelle_influxdb_write_requests_total',
      'HTTP write requests sent to InfluxDB, by outcome.',
      ['outcome'],
    );
  }

  async connect(signal: AbortSignal): Promise<void> {
    this.clearProbe();
    this.stopError = undefined;
    this.client ??= await this.createClient();
    if (this.config.createDatabase) {
      try {
        await untilAborted(this.client.createDatabase(this.config.database), signal);
      } catch (error) {
        const failure = this.classify(error);
        if (failure.kind === 'error' && failure.error instanceof SinkStoppedError)
          return this.stop(failure.error);
        throw new NotConnectedError(
          `${this.where}: CREATE DATABASE "${this.config.database}" failed: ${failureText(failure)}`,
        );
      }
    }
    const problem = await this.probe();
    if (problem instanceof SinkStoppedError) return this.stop(problem);
    if (problem) throw problem;
    this.health = 'connected';
    this.ctx.setState('connected');
    this.scheduleProbe(this.config.healthCheckInterval);
  }

  async write(batch: Message[], signal: AbortSignal): Promise<void> {
    this.assertWritable();
    const failures: BatchFailure[] = [];
    const entries: Entry[] = [];
    for (let index = 0; index < batch.length; index++) {
      try {
        entries.push({ index, mapped: this.mapper.map(batch[index]!) });
      } catch (error) {
        if (!(error instanceof PointError)) throw error;
        this.pointsRejected.inc({ cause: 'mapping' });
        failures.push({ index, error: new FatalError(`not a valid point: ${error.message}`) });
      }
    }
    const settled = new Set<number>();
    try {
      for (let i = 0; i < entries.length; i += this.config.maxPointsPerRequest) {
        await this.writeEntries(
          entries.slice(i, i + this.config.maxPointsPerRequest),
          failures,
          settled,
          signal,
        );
      }
    } catch (error) {
      const err = error as Error;
      const unsettled = entries.filter((e) => !settled.has(e.index));
      // Nothing decided yet: the whole batch is retried, with the error the engine maps (reconnect, stop, backoff).
      if (failures.length === 0 && unsettled.length === batch.length) throw err;
      for (const e of unsettled) failures.push({ index: e.index, error: err });
    }
    if (failures.length > 0) throw new BatchError(failures.sort((a, b) => a.index - b.index));
  }

  async close(): Promise<void> {
    this.clearProbe();
    const wasOpen = this.health !== 'closed';
    this.health = 'closed';
    if (wasOpen) this.ctx.setState('stopped');
  }

  private assertWritable(): void {
    if (this.health === 'stopped' && this.stopError) throw this.stopError;
    if (this.health === 'closed' || !this.client)
      throw new NotConnectedError(`${this.where}: write() before connect()`);
    if (this.health === 'down')
      throw new NotConnectedError(
        `${this.where} is unreachable: ${errorMessage(this.downError ?? 'unknown error')}`,
      );
  }

  /**
   * Writes the entries; on a 400 finds the rejected points (from InfluxDB's message, or by bisection,
   * which is safe because a point written twice with its timestamp is stored once) and adds them to
   * `failures` as FatalError. Entries written or failed go into `settled`. Throws on anything that is
   * not about individual points (network, auth, 5xx): the caller retries what is not settled.
   */
  private async writeEntries(
    entries: Entry[],
    failures: BatchFailure[],
    settled: Set<number>,
    signal: AbortSignal,
  ): Promise<void> {
    if (entries.length === 0) return;
    const failure = await this.post(entries, signal);
    if (!failure) {
      for (const e of entries) settled.add(e.index);
      this.pointsWritten.inc(undefined, entries.length);
      return;
    }
    if (failure.kind === 'error') throw failure.error;
    const reject = (list: Entry[], message: string, cause: string): void => {
      for (const e of list) {
        settled.add(e.index);
        failures.push({ index: e.index, error: new FatalError(`InfluxDB refused the point: ${message}`) });
      }
      this.pointsRejected.inc({ cause }, list.length);
    };
    if (entries.length === 1)
      return reject(entries, failure.message, failure.kind === 'tooLarge' ? 'too-large' : 'refused');
    if (failure.kind === 'rejected') {
      const dropped = droppedCount(failure.message);
      // A partial write stored every other point: when the message names exactly the dropped ones, done.
      const named = conflictingEntries(entries, failure.message);
      if (named && dropped !== undefined && named.length === dropped) {
        reject(named, failure.message, 'type-conflict');
        const good = entries.filter((e) => !named.includes(e));
        for (const e of good) settled.add(e.index);
        this.pointsWritten.inc(undefined, good.length);
        return;
      }
      if (dropped !== undefined && dropped === entries.length)
        return reject(entries, failure.message, 'refused');
    }
    const half = Math.ceil(entries.length / 2);
    await this.writeEntries(entries.slice(0, half), failures, settled, signal);
    await this.writeEntries(entries.slice(half), failures, settled, signal);
  }

  /** One POST /write; resolves undefined on success. */
  private async post(entries: Entry[], signal: AbortSignal): Promise<WriteFailure | undefined> {
    let body = '';
    for (let i = 0; i < entries.length; i++) body += (i === 0 ? '' : '\n') + entries[i]!.mapped.line;
    try {
      await this.withAbort(this.send(body), signal);
      this.lastOk = Date.now();
      this.requests.inc({ outcome: 'ok' });
      return undefined;
    } catch (error) {
      const failure = this.classify(error);
      this.requests.inc({ outcome: failure.kind });
      if (failure.kind === 'error') {
        if (failure.error instanceof SinkStoppedError) this.stop(failure.error);
        else if (failure.error instanceof NotConnectedError) this.markDown(failure.error);
      }
      return failure;
    }
  }

  /**
   * POST /write through node-influx's pool: the same request writePoints() makes, with a body we
   * serialise ourselves (point.ts: about three times faster than writePoints, measured).
   */
  private send(body: string): Promise<void> {
    const client = this.client;
    if (!client) return Promise.reject(new NotConnectedError(`${this.where}: the sink is closed`));
    const pool = (client as unknown as { _pool: InfluxPool })._pool;
    return pool.discard({
      method: 'POST',
      path: '/write',
      query: {
        db: this.config.database,
        precision: WRITE_PRECISION[writePrecision(this.config)],
        ...(this.config.retentionPolicy ? { rp: this.config.retentionPolicy } : {}),
      },
      body,
      ...(this.config.username ? { auth: `${this.config.username}:${this.config.password ?? ''}` } : {}),
    });
  }

  private async withAbort(promise: Promise<void>, signal: AbortSignal): Promise<void> {
    await untilAborted(promise, signal);
    if (signal.aborted) throw new RetryableError('write aborted (the service is stopping)');
  }

  /** Maps what node-influx threw to what the engine understands. */
  private classify(error: unknown): WriteFailure {
    if (error instanceof RequestError) {
      const status = error.res.statusCode ?? 0;
      const message = influxMessage(error.message, status);
      if (status === 400) return { kind: 'rejected', message };
      if (status === 413)
        return {
          kind: 'tooLarge',
          message: `the request is larger than the server's max-body-size (${message})`,
        };
      if (status === 401 || status === 403) {
        const who = this.config.username
          ? `user "${this.config.username}"`
          : 'no user name (set username and password)';
        return {
          kind: 'error',
          error: new SinkStoppedError(
            `${this.where} refused the credentials (${status}: ${message}) for ${who}, database "${this.config.database}". Fix username/password (token on InfluxDB 2.x) and restart.`,
          ),
        };
      }
      if (status === 404)
        return {
          kind: 'error',
          error: new NotConnectedError(
            `${this.where}: ${message} (create database "${this.config.database}", or set createDatabase: true)`,
          ),
        };
      const retryAfter = Number(error.res.headers['retry-after']);
      return {
        kind: 'error',
        error: new RetryableError(`${this.where} answered ${status}: ${message}`, {
          ...(Number.isFinite(retryAfter) && retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
        }),
      };
    }
    const text = redact(errorMessage(error));
    if (error instanceof ServiceNotAvailableError) {
      // node-influx: a 5xx (its status text) or a request timeout.
      return { kind: 'error', error: new RetryableError(`${this.where}: ${text || 'service unavailable'}`) };
    }
    const code = (error as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || /socket hang up/i.test(text)))
      return { kind: 'error', error: new NotConnectedError(`${this.where} is unreachable: ${text}`) };
    if (typeof code === 'string')
      return { kind: 'error', error: new NotConnectedError(`${this.where}: connection failed: ${text}`) };
    return { kind: 'error', error: new RetryableError(`${this.where}: ${text}`) };
  }

  /**
   * An empty write: answers whether the server is reachable, accepts the credentials and has the
   * database, in one request (an empty body is accepted with 204 by InfluxDB 1.x).
   */
  private async probe(): Promise<Error | undefined> {
    if (!this.client) return new NotConnectedError(`${this.where}: the sink is closed`);
    try {
      await this.send('');
      this.lastOk = Date.now();
      return undefined;
    } catch (error) {
      const failure = this.classify(error);
      // A 400 comes after authentication and the database lookup: the server is usable.
      if (failure.kind !== 'error') return undefined;
      if (failure.error instanceof RetryableError) return new NotConnectedError(failure.error.message);
      return failure.error;
    }
  }

  private stop(error: SinkStoppedError): void {
    this.clearProbe();
    this.stopError = error;
    if (this.health === 'stopped') return;
    this.health = 'stopped';
    this.ctx.logger.error({ err: redact(error.message) }, 'InfluxDB refused the credentials: sink stopped');
    this.ctx.setState('stopped', error);
  }

  private markDown(error: Error): void {
    if (this.health !== 'connected') return;
    this.health = 'down';
    this.downError = error;
    this.probeFailures = 0;
    this.ctx.setState('reconnecting', error);
    this.scheduleProbe(PROBE_MIN_MS);
  }

  private scheduleProbe(delayMs: number): void {
    this.clearProbe();
    this.probeTimer = setTimeout(() => void this.runProbe(), delayMs);
    this.probeTimer.unref();
  }

  private clearProbe(): void {
    if (this.probeTimer) clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
  }

  /** While connected: checks the server when no request succeeded for a while. While down: until it answers. */
  private async runProbe(): Promise<void> {
    if (this.probing || this.health === 'closed' || this.health === 'stopped') return;
    const interval = this.config.healthCheckInterval;
    if (this.health === 'connected' && Date.now() - this.lastOk < interval) {
      return this.scheduleProbe(interval - (Date.now() - this.lastOk));
    }
    this.probing = true;
    let problem: Error | undefined;
    try {
      problem = await this.probe();
    } finally {
      this.probing = false;
    }
    // close() or a write may have changed it while the probe ran.
    const health = this.health as Health;
    if (health === 'closed' || health === 'stopped') return;
    if (problem instanceof SinkStoppedError) return this.stop(problem);
    if (!problem) {
      if (this.health === 'down') {
        this.health = 'connected';
        this.downError = undefined;
        this.probeFailures = 0;
        this.ctx.setState('connected');
      }
      return this.scheduleProbe(interval);
    }
    if (this.health === 'connected') return this.markDown(problem);
    this.downError = problem;
    this.scheduleProbe(backoffDelay(this.probeFailures++, PROBE_MIN_MS, PROBE_MAX_MS));
  }

  private async createClient(): Promise<InfluxDB> {
    const url = new URL(this.config.url);
    const https = url.protocol === 'https:';
    const options: RequestOptions = {};
    if (https && this.config.tls) {
      const tls = this.config.tls;
      const read = async (what: string, path: string | undefined): Promise<Buffer | undefined> => {
        if (!path) return undefined;
        try {
          return await readFile(path);
        } catch (error) {
          throw new NotConnectedError(`tls.${what}: can not read ${path}: ${errorMessage(error)}`);
        }
      };
      const [ca, cert, key] = await Promise.all([
        read('ca', tls.ca),
        read('cert', tls.cert),
        read('key', tls.key),
      ]);
      Object.assign(options, {
        ...(ca ? { ca } : {}),
        ...(cert ? { cert } : {}),
        ...(key ? { key } : {}),
        ...(tls.passphrase ? { passphrase: tls.passphrase } : {}),
        ...(tls.servername ? { servername: tls.servername } : {}),
        rejectUnauthorized: tls.rejectUnauthorized,
      });
    }
    return new InfluxDB({
      host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: url.port ? Number(url.port) : https ? 443 : 8086,
      protocol: https ? 'https' : 'http',
      path: url.pathname.replace(/\/$/, ''),
      options,
      database: this.config.database,
      ...(this.config.username
        ? { username: this.config.username, password: this.config.password ?? '' }
        : {}),
      pool: { maxRetries: 0, requestTimeout: this.config.timeout, backoff: NO_HOST_BACKOFF },
    });
  }
}

/** The `error` text of InfluxDB's JSON answer inside node-influx's "A 400 Bad Request error occurred: {...}". */
export function influxMessage(text: string, status: number): string {
  const brace = text.indexOf('{');
  if (brace >= 0) {
    try {
      const body = JSON.parse(text.slice(brace)) as { error?: unknown; message?: unknown };
      const message = body.error ?? body.message;
      if (typeof message === 'string' && message !== '') return redact(message);
    } catch {
      /* not JSON: keep the text */
    }
  }
  return redact(text.replace(/^A \d+ [^:]*error occurred:\s*/, '').trim() || `HTTP ${status}`);
}

/** `dropped=N` at the end of a partial-write message. */
export function droppedCount(message: string): number | undefined {
  const m = /\bdropped=(\d+)\b/.exec(message);
  return m ? Number(m[1]) : undefined;
}

const CONFLICT =
  /field type conflict: input field "((?:[^"\\]|\\.)*)" on measurement "((?:[^"\\]|\\.)*)" is type (\w+)/;

/**
 * The entries a "field type conflict" names: its measurement, with that field of the input type.
 * InfluxDB names only the first conflict; the caller checks the count against `dropped=N`.
 */
export function conflictingEntries(entries: readonly Entry[], message: string): Entry[] | undefined {
  const m = CONFLICT.exec(message);
  if (!m) return undefined;
  const unquote = (s: string): string => s.replace(/\\(.)/g, '$1');
  const field = unquote(m[1]!);
  const measurement = unquote(m[2]!);
  const type = m[3]!;
  return entries.filter((e) => {
    if (e.mapped.measurement !== measurement) return false;
    if (!(field in e.mapped.fields)) return false;
    return (e.mapped.types?.[field] ?? 'float') === type;
  });
}

function failureText(failure: WriteFailure): string {
  return failure.kind === 'error' ? failure.error.message : failure.message;
}
