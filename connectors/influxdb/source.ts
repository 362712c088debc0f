import type { IncomingMessage } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import {
  FatalError,
  NotConnectedError,
  RUN_META_KEY,
  RetryableError,
  errorMessage,
  redact,
  redactUrl,
  type ComponentContext,
  type ComponentCounter,
  type Message,
  type Run,
  type RunReader,
} from '../../src/sdk/index.js';
import { bodyMessage, retryAfter } from './api.js';
import { HttpClient, HttpTimeoutError, agentTlsOptions } from './http.js';
import { MalformedAnswerError, QueryAnswerError, QueryDecoder, type QueryRow } from './query.js';
import { compileQueryTemplate, nsToRfc3339, type QueryTemplate } from './query-template.js';
import type { InfluxdbSourceConfig } from './source-spec.js';

/** Text decoded per turn of the event loop: the decoding work between two turns stays small. */
const PIECE_BYTES = 16 * 1024;
const MAX_ERROR_BYTES = 64 * 1024;

/** What one row becomes: `fields` by column name, as Telegraf and node-influx users know it. */
export interface InfluxdbRowPayload {
  measurement: string;
  tags: Record<string, string>;
  fields: Record<string, unknown>;
  /** The point's time, RFC 3339 UTC to the nanosecond; null when the query has no time column. */
  time: string | null;
}

/**
 * Reads an InfluxQL query over a run's window (InfluxDB 1.x `/query`, chunked): one message per
 * row, in batches, as the answer arrives.
 */
export class InfluxdbQueryReader implements RunReader {
  private client: HttpClient | undefined;
  private readonly template: QueryTemplate;
  private readonly where: string;
  private readonly rows: ComponentCounter;
  private readonly errors: ComponentCounter;
  private readonly headers: Record<string, string>;

  constructor(
    private readonly config: InfluxdbSourceConfig,
    private readonly ctx: ComponentContext,
  ) {
    this.template = compileQueryTemplate(config.query);
    this.where = `InfluxDB at ${redactUrl(config.url)}`;
    this.rows = ctx.metrics.counter(
      'passerelle_influxdb_query_rows_total',
      'Rows read from InfluxDB queries (one message each).',
    );
    this.errors = ctx.metrics.counter(
      'passerelle_influxdb_query_errors_total',
      'InfluxDB queries that failed, by cause.',
      ['cause'],
    );
    this.headers = {
      'content-type': 'application/x-www-form-urlencoded',
      ...(config.username
        ? {
            authorization: `Basic ${Buffer.from(`${config.username}:${config.password ?? ''}`).toString('base64')}`,
          }
        : config.token
          ? { authorization: `Token ${config.token}` }
          : {}),
    };
  }

  async connect(signal: AbortSignal): Promise<void> {
    this.client ??= new HttpClient(
      new URL(this.config.url),
      await agentTlsOptions(this.config),
      this.config.timeout,
    );
    this.ctx.setState('connecting');
    let res: IncomingMessage;
    try {
      res = await this.client.open('GET', '/ping', {}, {}, '', signal);
      res.resume();
    } catch (error) {
      const problem = this.requestError(error, signal);
      this.ctx.setState('disconnected', problem);
      throw problem;
    }
    if (res.statusCode !== 204 && res.statusCode !== 200) {
      const problem = new NotConnectedError(
        `${this.where}: /ping answered ${res.statusCode}: is this InfluxDB?`,
      );
      this.ctx.setState('disconnected', problem);
      throw problem;
    }
    this.ctx.setState('connected');
  }

  async *read(run: Run, signal: AbortSignal): AsyncGenerator<Message[]> {
    const client = this.client;
    if (!client) throw new NotConnectedError(`${this.where}: read() before connect() or after close()`);
    const query = this.template.render(run.window);
    const params: Record<string, string> = {
      db: this.config.database,
      epoch: 'ns',
      chunked: 'true',
      chunk_size: String(this.config.chunkSize),
      ...(this.config.retentionPolicy ? { rp: this.config.retentionPolicy } : {}),
    };
    let res: IncomingMessage;
    try {
      res = await client.open(
        'POST',
        '/query',
        params,
        this.headers,
        new URLSearchParams({ q: query }).toString(),
        signal,
      );
    } catch (error) {
      throw this.count(this.requestError(error, signal));
    }
    try {
      if (res.statusCode !== 200) throw this.count(await this.statusError(res, signal));
      // From here the run's own silence timer applies: a socket timeout would also fire while the
      // pipeline is busy with a batch and the answer is paused.
      res.socket?.setTimeout(0);
      const runMeta = { id: run.id, window: { start: run.window.start, end: run.window.end } };
      let pending: Message[] = [];
      const decoder = new QueryDecoder((row) => pending.push(this.message(row, run, runMeta)));
      const text = new StringDecoder('utf8');
      const chunks = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      for (;;) {
        const next = await this.withSilenceLimit(chunks.next(), res, signal);
        if (next.done) break;
        const chunk = next.value;
        for (let offset = 0; offset < chunk.length; offset += PIECE_BYTES) {
          if (offset > 0) await yieldToLoop();
          if (signal.aborted) throw signal.reason as Error;
          this.decode(() => decoder.write(text.write(chunk.subarray(offset, offset + PIECE_BYTES))));
          while (pending.length >= this.config.batchSize) {
            const batch = pending.slice(0, this.config.batchSize);
            pending = pending.slice(this.config.batchSize);
            this.rows.inc(undefined, batch.length);
            yield batch;
            if (signal.aborted) throw signal.reason as Error;
          }
        }
      }
      this.decode(() => {
        decoder.write(text.end());
        decoder.end();
      });
      if (pending.length > 0) {
        this.rows.inc(undefined, pending.length);
        yield pending;
      }
    } catch (error) {
      if (
        error instanceof FatalError ||
        error instanceof RetryableError ||
        error instanceof NotConnectedError
      )
        throw error;
      if (signal.aborted) throw signal.reason as Error;
      throw this.count(this.requestError(error, signal));
    } finally {
      res.destroy();
    }
  }

  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    client.close();
    this.ctx.setState('stopped');
  }

  private message(row: QueryRow, run: Run, runMeta: unknown): Message {
    const ns = row.timeNs;
    const payload: InfluxdbRowPayload = {
      measurement: row.measurement,
      tags: { ...row.tags },
      fields: row.fields,
      time: ns === undefined ? null : nsToRfc3339(ns),
    };
    const meta: Record<string, unknown> = {
      'influxdb.measurement': row.measurement,
      'influxdb.statement': row.statement,
      [RUN_META_KEY]: runMeta,
    };
    if (ns !== undefined) meta['influxdb.time'] = ns.toString();
    return {
      id: `${run.id}/${row.statement}/${row.seriesKey}/${row.index}`,
      payload,
      meta,
      // Milliseconds with the microseconds as a fraction (the SDK's resolution); exact ns in meta.
      time: ns === undefined ? run.window.start : Number(ns / 1000n) / 1000,
    };
  }

  /** Runs one decoding step, turning what InfluxDB said into the error the engine understands. */
  private decode(step: () => void): void {
    try {
      step();
    } catch (error) {
      if (error instanceof QueryAnswerError) {
        this.errors.inc({ cause: 'statement' });
        const which = error.statement === undefined ? 'the query' : `statement ${error.statement}`;
        throw new FatalError(`${this.where} refused ${which}: ${redact(error.message)}`);
      }
      if (error instanceof MalformedAnswerError) {
        this.errors.inc({ cause: 'malformed' });
        throw new RetryableError(`${this.where}: unreadable answer: ${error.message}`);
      }
      throw error;
    }
  }

  /** Waits for the next piece of the answer at most `timeout` ms (only while waiting for InfluxDB). */
  private async withSilenceLimit<T>(next: Promise<T>, res: IncomingMessage, signal: AbortSignal): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => void res.destroy(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      return await Promise.race([
        next,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            const error = new HttpTimeoutError(this.config.timeout);
            res.destroy(error);
            reject(error);
          }, this.config.timeout);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }

  private count<E extends Error>(error: E): E {
    const cause =
      error instanceof NotConnectedError
        ? 'unreachable'
        : error instanceof RetryableError
          ? 'server'
          : /credentials/.test(error.message)
            ? 'credentials'
            : 'refused';
    this.errors.inc({ cause });
    return error;
  }

  private async statusError(res: IncomingMessage, signal: AbortSignal): Promise<Error> {
    const status = res.statusCode ?? 0;
    let body = '';
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of this.withSilenceStream(res, signal)) {
        if (size < MAX_ERROR_BYTES) chunks.push(chunk);
        size += chunk.length;
      }
      body = Buffer.concat(chunks).subarray(0, MAX_ERROR_BYTES).toString('utf8');
    } catch {
      /* the status says enough */
    }
    const message = bodyMessage({ status, headers: res.headers, body });
    const who = this.config.username
      ? `user "${this.config.username}"`
      : this.config.token
        ? 'the token'
        : 'no credentials (set username and password)';
    if (status === 401 || status === 403)
      return new FatalError(`${this.where} refused the credentials of ${who} (${status}): ${message}`);
    if (status === 400) return new FatalError(`${this.where} refused the query: ${message}`);
    if (status === 404)
      return new FatalError(`${this.where}: no /query here (404): is the url the InfluxDB API? ${message}`);
    return new RetryableError(`${this.where} answered ${status}: ${message}`, {
      retryAfterMs: retryAfter(res.headers['retry-after']),
    });
  }

  private async *withSilenceStream(res: IncomingMessage, signal: AbortSignal): AsyncGenerator<Buffer> {
    const it = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    for (;;) {
      const next = await this.withSilenceLimit(it.next(), res, signal);
      if (next.done) return;
      yield next.value;
    }
  }

  private requestError(error: unknown, signal: AbortSignal): Error {
    if (signal.aborted) return signal.reason as Error;
    if (error instanceof HttpTimeoutError)
      return new RetryableError(`${this.where}: no answer within ${this.config.timeout} ms`);
    const text = redact(errorMessage(error));
    const code = (error as { code?: unknown } | undefined)?.code;
    if (typeof code === 'string') return new NotConnectedError(`${this.where} is unreachable: ${text}`);
    return new RetryableError(`${this.where}: ${text}`);
  }
}
