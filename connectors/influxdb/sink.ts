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
import { writeApi, type Answer, type WriteApi } from './api.js';
import { HttpClient, HttpTimeoutError, agentTlsOptions } from './http.js';
import { PointError, PointMapper } from './point.js';
import type { FieldType, InfluxdbSinkConfig } from './spec.js';

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

/**
 * A mapped point: its line is already encoded in the write's body buffer (`start`..`end`), so no
 * string of it outlives the mapping (they died young instead of being promoted by the wait for
 * InfluxDB's answer: 30 % of the sink's CPU went to the garbage collector).
 */
interface Entry {
  index: number;
  message: Message;
  measurement: string;
  body: LineBuffer;
  start: number;
  end: number;
}

/** The lines of one write(), UTF-8, each followed by a line feed. Grows by doubling. */
class LineBuffer {
  buf: Buffer;
  length = 0;

  constructor(capacity: number) {
    this.buf = Buffer.allocUnsafe(Math.max(1024, capacity));
  }

  /** Appends `line` and a line feed; returns where the line starts and ends. */
  append(line: string): [start: number, end: number] {
    // A UTF-16 code unit is at most 3 bytes of UTF-8: room for the worst case, then the real write.
    const need = this.length + line.length * 3 + 1;
    if (need > this.buf.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2));
      this.buf.copy(grown, 0, 0, this.length);
      this.buf = grown;
    }
    const start = this.length;
    const end = start + this.buf.write(line, start, 'utf8');
    this.buf[end] = 0x0a;
    this.length = end + 1;
    return [start, end];
  }
}

/** The request body of `entries`: a view of the buffer when they are its consecutive lines. */
function bodyOf(entries: readonly Entry[]): Buffer {
  const first = entries[0]!;
  let contiguous = true;
  for (let i = 1; i < entries.length && contiguous; i++)
    contiguous = entries[i]!.body === first.body && entries[i]!.start === entries[i - 1]!.end + 1;
  if (contiguous) return first.body.buf.subarray(first.start, entries[entries.length - 1]!.end);
  const parts: Buffer[] = [];
  for (const e of entries) parts.push(e.body.buf.subarray(e.start, e.end + 1));
  const body = Buffer.concat(parts);
  return body.subarray(0, body.length - 1);
}

const lineOf = (e: Entry): string => e.body.buf.toString('utf8', e.start, e.end);

/** What one HTTP write came back with, when it is not a success. */
type WriteFailure =
  Exclude<Answer, { kind: 'ok' | 'credentials' | 'notFound' | 'retry' }> | { kind: 'error'; error: Error };

type Health = 'closed' | 'connected' | 'down' | 'stopped';

const PROBE_MIN_MS = 250;
const PROBE_MAX_MS = 5000;

export class InfluxdbSink implements Sink {
  private client: HttpClient | undefined;
  private readonly api: WriteApi;
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
  /** Average bytes per line of the last write, to size the next body buffer. */
  private lineBytes = 128;

  constructor(
    private readonly config: InfluxdbSinkConfig,
    private readonly ctx: ComponentContext,
  ) {
    this.api = writeApi(config);
    this.mapper = new PointMapper(config, ctx.pipeline, this.api.dialect, this.api.maxStringBytes);
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
    this.client ??= new HttpClient(
      new URL(this.config.url),
      await agentTlsOptions(this.config),
      this.config.timeout,
    );
    if (this.config.createDatabase) {
      const failure = await this.createDatabase(signal);
      if (failure instanceof SinkStoppedError) return this.stop(failure);
      if (failure) throw failure;
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
    const body = new LineBuffer(batch.length * this.lineBytes);
    for (let index = 0; index < batch.length; index++) {
      const message = batch[index]!;
      try {
        const mapped = this.mapper.map(message, false);
        const [start, end] = body.append(mapped.line);
        entries.push({ index, message, measurement: mapped.measurement, body, start, end });
      } catch (error) {
        if (!(error instanceof PointError)) throw error;
        this.pointsRejected.inc({ cause: 'mapping' });
        failures.push({ index, error: new FatalError(`not a valid point: ${error.message}`) });
      }
    }
    if (entries.length > 0) this.lineBytes = Math.ceil((body.length / entries.length) * 1.1);
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
    this.client?.close();
    this.client = undefined;
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
   * Writes the entries and settles each one: written (counted), or refused (a FatalError in
   * `failures`, with InfluxDB's reason). Refused points are found from InfluxDB's answer where it
   * names them (line numbers on 3, the line text or the type conflict on 1.x/2.x), otherwise by
   * writing halves until each refused point is alone: safe, because a point written twice with
   * its timestamp is stored once. Points the answer does not say were stored are written again.
   * Throws on anything that is not about individual points (network, credentials, 5xx): the
   * caller retries what is not settled.
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
    const reject = (list: readonly Entry[], reason: (e: Entry) => string, cause: string): void => {
      for (const e of list) {
        settled.add(e.index);
        failures.push({ index: e.index, error: new FatalError(`InfluxDB refused the point: ${reason(e)}`) });
      }
      this.pointsRejected.inc({ cause }, list.length);
    };
    if (entries.length === 1)
      return reject(
        entries,
        () => (failure.kind === 'refused' ? (failure.named.get(0) ?? failure.message) : failure.message),
        failure.kind === 'tooLarge' ? 'too-large' : causeOf(failure.message),
      );
    if (failure.kind === 'refused') {
      let named = [...failure.named.keys()].map((i) => entries[i]!);
      let reasons = failure.named;
      const dropped = failure.dropped;
      if (named.length === 0) {
        // InfluxDB names only the first type conflict; trust it when it accounts for every dropped point.
        const conflicts = conflictingEntries(
          entries,
          failure.message,
          (e) => this.mapper.map(e.message).fields,
          this.mapper.types,
        );
        if (conflicts && dropped !== undefined && conflicts.length === dropped) {
          named = conflicts;
          reasons = new Map();
        } else if (dropped !== undefined && dropped === entries.length) {
          return reject(entries, () => failure.message, causeOf(failure.message));
        }
      }
      if (named.length > 0) {
        const byEntry = new Map(
          [...reasons].map(([i, reason]) => [entries[i]!, `${reason} (${failure.message})`] as const),
        );
        reject(named, (e) => byEntry.get(e) ?? failure.message, causeOf(failure.message));
        const rest = entries.filter((e) => !settled.has(e.index));
        if (failure.othersWritten === true) {
          for (const e of rest) settled.add(e.index);
          this.pointsWritten.inc(undefined, rest.length);
          return;
        }
        // Not written, or not known to be: written again (idempotent), which settles them.
        return this.writeEntries(rest, failures, settled, signal);
      }
    }
    const half = Math.ceil(entries.length / 2);
    await this.writeEntries(entries.slice(0, half), failures, settled, signal);
    await this.writeEntries(entries.slice(half), failures, settled, signal);
  }

  /** One write request; resolves undefined on success. */
  private async post(entries: Entry[], signal: AbortSignal): Promise<WriteFailure | undefined> {
    const answer = await this.send(bodyOf(entries), entries, signal);
    const failure = this.classify(answer);
    const outcome = !failure ? 'ok' : failure.kind === 'refused' ? 'rejected' : failure.kind;
    this.requests.inc({ outcome });
    if (!failure) {
      this.lastOk = Date.now();
      return undefined;
    }
    if (failure.kind === 'error') {
      if (failure.error instanceof SinkStoppedError) this.stop(failure.error);
      else if (failure.error instanceof NotConnectedError) this.markDown(failure.error);
    }
    return failure;
  }

  /** One POST to the version's write API: its answer, or a network/timeout error as an Error. */
  private async send(
    body: Buffer | string,
    entries: readonly Entry[],
    signal: AbortSignal,
  ): Promise<Answer | Error> {
    const client = this.client;
    if (!client) return new NotConnectedError(`${this.where}: the sink is closed`);
    const timeout = AbortSignal.timeout(this.config.timeout);
    try {
      const answer = await client.post(
        this.api.path,
        this.api.query,
        this.api.headers,
        body,
        AbortSignal.any([signal, timeout]),
      );
      // Only a refusal (400, 422) reads the lines: decoded from the body then, not kept per point.
      const refused = answer.status === 400 || answer.status === 422;
      return this.api.interpret(answer, refused ? entries.map(lineOf) : []);
    } catch (error) {
      if (signal.aborted) return new RetryableError('write aborted (the service is stopping)');
      if (timeout.aborted || error instanceof HttpTimeoutError)
        return new RetryableError(`${this.where}: no answer within ${this.config.timeout} ms`);
      const text = redact(errorMessage(error));
      const code = (error as { code?: unknown } | undefined)?.code;
      if (typeof code === 'string' && (NETWORK_CODES.has(code) || /socket hang up/i.test(text)))
        return new NotConnectedError(`${this.where} is unreachable: ${text}`);
      if (typeof code === 'string') return new NotConnectedError(`${this.where}: connection failed: ${text}`);
      return new RetryableError(`${this.where}: ${text}`);
    }
  }

  /** Maps an answer to what the engine understands; undefined when written. */
  private classify(answer: Answer | Error): WriteFailure | undefined {
    if (answer instanceof Error) return { kind: 'error', error: answer };
    switch (answer.kind) {
      case 'ok':
        return undefined;
      case 'refused':
      case 'tooLarge':
        return answer;
      case 'credentials':
        return {
          kind: 'error',
          error: new SinkStoppedError(
            `${this.where} refused the credentials (${answer.status}: ${answer.message}) for ${this.api.who}, ${this.api.target}. Fix them and restart.`,
          ),
        };
      case 'notFound':
        return {
          kind: 'error',
          error: new NotConnectedError(
            `${this.where}: ${answer.message} (${this.api.target}${this.config.version === 1 ? ': create it, or set createDatabase: true' : ': create it'})`,
          ),
        };
      case 'retry':
        return {
          kind: 'error',
          error: new RetryableError(`${this.where} answered ${answer.status}: ${answer.message}`, {
            ...(answer.retryAfterMs !== undefined ? { retryAfterMs: answer.retryAfterMs } : {}),
          }),
        };
    }
  }

  /** 1.x only (the config refuses it elsewhere): CREATE DATABASE through /query. */
  private async createDatabase(signal: AbortSignal): Promise<Error | undefined> {
    const client = this.client;
    if (!client) return new NotConnectedError(`${this.where}: the sink is closed`);
    const name = this.config.database ?? '';
    const statement = `CREATE DATABASE "${name.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
    let message: string;
    try {
      const answer = await untilAborted(
        client.post('/query', { q: statement }, this.api.headers, '', signal),
        signal,
      );
      if (!answer) return new NotConnectedError(`${this.where}: connect aborted`);
      if (answer.status === 200) {
        const body = JSON.parse(answer.body) as { results?: { error?: string }[] };
        const error = body.results?.find((r) => r.error)?.error;
        if (!error) return undefined;
        message = redact(error);
      } else if (answer.status === 401 || answer.status === 403) {
        return new SinkStoppedError(
          `${this.where} refused the credentials (${answer.status}) for ${this.api.who}: CREATE DATABASE "${name}" needs an admin user. Fix them and restart.`,
        );
      } else {
        message = `${answer.status}: ${redact(answer.body.slice(0, 500))}`;
      }
    } catch (error) {
      message = redact(errorMessage(error));
    }
    return new NotConnectedError(`${this.where}: CREATE DATABASE "${name}" failed: ${message}`);
  }

  /**
   * An empty write: answers whether the server is reachable, accepts the credentials and has the
   * database or bucket, in one request (1.x and 2.x accept an empty body with 204; 3 answers 400
   * after checking the token).
   */
  private async probe(): Promise<Error | undefined> {
    // send() bounds the request by `timeout`; nothing else cancels a probe.
    const answer = await this.send('', [], new AbortController().signal);
    const failure = this.classify(answer);
    if (!failure) {
      this.lastOk = Date.now();
      return undefined;
    }
    // A refusal of the (empty) data comes after authentication and the database lookup: usable.
    if (failure.kind !== 'error') return undefined;
    if (failure.error instanceof RetryableError) return new NotConnectedError(failure.error.message);
    return failure.error;
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
}

/** The rejection counter's cause label, from InfluxDB's message. */
function causeOf(message: string): string {
  if (/field type conflict|invalid column type|schema/i.test(message)) return 'type-conflict';
  if (/retention/i.test(message)) return 'retention';
  if (/larger than the server accepts/.test(message)) return 'too-large';
  return 'refused';
}

const CONFLICT =
  /field type conflict: input field "((?:[^"\\]|\\.)*)" on measurement "((?:[^"\\]|\\.)*)" is type (\w+)/;

/**
 * The entries a "field type conflict" names: its measurement, with that field of the input type.
 * InfluxDB names only the first conflict; the caller checks the count against `dropped=N`.
 */
export function conflictingEntries(
  entries: readonly Entry[],
  message: string,
  fieldsOf: (e: Entry) => Readonly<Record<string, unknown>>,
  types: Readonly<Record<string, FieldType>> | undefined,
): Entry[] | undefined {
  const m = CONFLICT.exec(message);
  if (!m) return undefined;
  const unquote = (s: string): string => s.replace(/\\(.)/g, '$1');
  const field = unquote(m[1]!);
  const measurement = unquote(m[2]!);
  const type = m[3]!;
  return entries.filter((e) => {
    if (e.measurement !== measurement) return false;
    if (!(field in fieldsOf(e))) return false;
    return (types?.[field] ?? 'float') === type;
  });
}
