import { createHash, randomInt } from 'node:crypto';
import { Redis } from 'ioredis';
import {
  BatchError,
  ConfigError,
  FatalError,
  NotConnectedError,
  SinkStoppedError,
  compileTemplate,
  errorMessage,
  redact,
  redactUrl,
  type BatchFailure,
  type ComponentContext,
  type ComponentCounter,
  type Message,
  type RenderFn,
  type Run,
  type RunAwareSink,
  type RunOutput,
  type Sink,
} from '../../src/sdk/index.js';
import { compileColumns } from '../../src/sdk/columns.js';
import { localWallClock, partTitle, quoteTitle, sanitizeTitle, withoutWindowParts } from './a1.js';
import { apiError, refused, SheetsApi } from './api.js';
import { createSheetsAuth, type SheetsAuth } from './auth.js';
import { appendCellsRequest, enteredRows } from './cells.js';
import { cutChunks, packRequests, rowCap, type Chunk } from './chunks.js';
import { SinkHealth } from './health.js';
import { startProbe } from './probe.js';
import { RedisQuota, sharedMemoryQuota, type WriteQuota } from './quota.js';
import { RowLayout } from './rows.js';
import {
  beginRun,
  discardRequests,
  endRunRequests,
  recordRunRows,
  runOfMessage,
  stagingFamily,
  type ActiveRun,
} from './run-output.js';
import type { GoogleSheetsSinkConfig } from './spec.js';
import {
  RedisTabStore,
  sharedMemoryTabStore,
  sharedState,
  type ChunkStatus,
  type TabStore,
} from './state.js';
import { Tabs } from './tabs.js';

export interface GoogleSheetsSinkOptions {
  /** Auth client to use instead of the configured credentials (tests: a static token). */
  auth?: SheetsAuth;
}

/** What connect() opens and the next connect() or close() releases. */
interface Connection {
  api: SheetsApi;
  store: TabStore;
  tabs: Tabs;
  /** Set once the tabs were read: the reachability probe runs from then on. */
  stopProbe?: () => void;
}

/**
 * Writes rows by appending them (`appendCells` in one `spreadsheets.batchUpdate` for every tab of a
 * flush with RAW; `values.append` with `INSERT_ROWS` per tab with USER_ENTERED): Google puts them
 * after the last row with data, inserting rows, so nothing anyone wrote is ever overwritten, however
 * people insert, delete, sort or type rows. Appending is not idempotent, so each row carries its
 * batch id, and each chunk's status is recorded before it is sent: a retry of a chunk whose answer
 * was lost reads the batch id column and appends only if the id is not there.
 */
export class GoogleSheetsSink implements Sink, RunAwareSink {
  private connection: Connection | undefined;
  private readonly health: SinkHealth;
  private readonly tab: RenderFn;
  private readonly layout: RowLayout;
  private readonly rowsWritten: ComponentCounter;
  private readonly requests: ComponentCounter;
  /** Runs begun and not ended (scheduled pipelines), by run id. */
  private readonly runs = new Map<string, ActiveRun>();

  constructor(
    private readonly config: GoogleSheetsSinkConfig,
    private readonly ctx: ComponentContext,
    private readonly options: GoogleSheetsSinkOptions = {},
  ) {
    this.health = new SinkHealth(ctx);
    this.tab = compileTemplate(withoutWindowParts(config.tab));
    const cellErrors = ctx.metrics.counter(
      'passerelle_google_sheets_cell_errors_total',
      'Values that could not be converted to their column type (the cell is left empty).',
    );
    this.layout = new RowLayout(
      config.columns ? compileColumns(config.columns) : undefined,
      config.batchIdColumn,
      cellErrors,
      ctx.logger,
    );
    this.rowsWritten = ctx.metrics.counter(
      'passerelle_google_sheets_rows_written_total',
      'Rows appended to Google Sheets (confirmed by Google, or found in the tab after a lost answer).',
    );
    this.requests = ctx.metrics.counter(
      'passerelle_google_sheets_requests_total',
      'Requests sent to the Sheets API, by kind (read, write) and outcome (HTTP status or network).',
      ['kind', 'status'],
    );
  }

  async connect(signal: AbortSignal): Promise<void> {
    await this.release();
    this.health.reset();
    let auth: SheetsAuth;
    try {
      auth = this.options.auth ?? (await createSheetsAuth(this.config.auth));
    } catch (error) {
      if (error instanceof ConfigError) {
        this.health.stop(error.message);
        return;
      }
      throw error;
    }
    // Only the Sheets client (not the whole googleapis tree): a fraction of the start time and memory.
    const { sheets } = await import('@googleapis/sheets');
    const client = sheets({ version: 'v4', auth: auth.client, rootUrl: this.config.rootUrl });
    const { store, quota } = this.openSharedState(auth.account);
    const api = new SheetsApi({
      client,
      config: this.config,
      quota,
      account: auth.account,
      requests: this.requests,
      health: this.health,
      onSpreadsheetChanged: () => tabs.forget(),
    });
    const tabs = new Tabs(api, this.layout, this.config);
    const connection: Connection = { api, store, tabs };
    this.connection = connection;
    try {
      await tabs.load(signal);
    } catch (error) {
      const mapped = api.classify(error, signal);
      if (mapped instanceof SinkStoppedError) return;
      throw mapped;
    }
    connection.stopProbe = startProbe(this.config.rootUrl, this.config.probeInterval, this.health);
  }

  async write(batch: Message[], signal: AbortSignal): Promise<void> {
    this.health.assertRunning();
    const connection = this.connection;
    if (!connection) throw new NotConnectedError('google-sheets sink: write() before connect()');
    if (!this.health.reachable)
      throw new NotConnectedError(`the Sheets API at ${redactUrl(this.config.rootUrl)} is unreachable`);
    try {
      await this.writeBatch(connection, batch, signal);
    } catch (error) {
      throw connection.api.classify(error, signal);
    }
  }

  async close(): Promise<void> {
    this.runs.clear();
    await this.release();
  }

  // ---------------------------------------------------------------- runs (scheduled pipelines)

  /** A run begins (run-output.ts): with `rotate: run`, the staging tabs of its earlier attempts go. */
  async beginRun(run: Run, signal: AbortSignal): Promise<void> {
    this.health.assertRunning();
    const connection = this.connection;
    if (!connection) throw new NotConnectedError('google-sheets sink: beginRun() before connect()');
    if (this.config.rotate === 'run') {
      const { api, tabs } = connection;
      try {
        const requests = discardRequests(await tabs.describe(signal), run.id);
        if (requests.length > 0) {
          await tabs.restructure(requests, signal);
          this.ctx.logger.info(
            { run: run.id, tabs: requests.length },
            'earlier attempt of the run discarded',
          );
        }
      } catch (error) {
        throw api.classify(error, signal);
      }
    }
    this.runs.set(run.id, beginRun(run, this.config.tab, this.config.timeZone));
  }

  /**
   * The run's batches are all written: with `rotate: run`, one atomic request renames its staging
   * tabs into place (replacing an earlier attempt's) and records it in `_runs`.
   */
  async endRun(run: Run, signal: AbortSignal): Promise<RunOutput> {
    this.health.assertRunning();
    const active = this.runs.get(run.id);
    if (!active)
      throw new FatalError(`google-sheets: run ${run.id} ended without beginRun (or the sink was restarted)`);
    if (this.config.rotate !== 'run') {
      this.runs.delete(run.id);
      return { targets: [...active.targets], rows: active.chunks.size };
    }
    const connection = this.connection;
    if (!connection) throw new NotConnectedError('google-sheets sink: endRun() before connect()');
    const { api, tabs } = connection;
    try {
      const sheets = await tabs.describe(signal);
      const runsTab = await tabs.runsLog(sheets, signal);
      const { requests, output } = endRunRequests(active, sheets, runsTab, Date.now(), () =>
        randomInt(1, 2 ** 31 - 1),
      );
      await tabs.restructure(requests, signal);
      this.runs.delete(run.id);
      this.ctx.logger.info({ run: run.id, tabs: output.targets, rows: output.rows }, 'run written');
      return output;
    } catch (error) {
      throw api.classify(error, signal);
    }
  }

  // ---------------------------------------------------------------- connection

  /** The tab store and write quota: in Redis, shared by every replica, or shared in the process. */
  private openSharedState(account: string): { store: TabStore; quota: WriteQuota } {
    const ttl = this.config.reservationTtl;
    if (!this.ctx.redisUrl)
      // One store per spreadsheet and one bucket per Google identity in the process, whatever
      // number of sinks use them.
      return {
        store: sharedMemoryTabStore(this.config.spreadsheetId, ttl),
        quota: sharedMemoryQuota(account, this.config.quota),
      };
    const redis = new Redis(this.ctx.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: false });
    redis.on('error', (error: Error) =>
      this.ctx.logger.debug({ err: redact(error.message) }, 'redis connection error'),
    );
    const prefix = `passerelle:google-sheets:${this.config.spreadsheetId}:`;
    return {
      store: new RedisTabStore(redis, prefix, ttl),
      quota: new RedisQuota(redis, `passerelle:google-sheets:quota:${hashed(account)}`, this.config.quota),
    };
  }

  private async release(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    connection?.stopProbe?.();
    await connection?.store.close();
  }

  // ---------------------------------------------------------------- writes

  private async writeBatch(connection: Connection, batch: Message[], signal: AbortSignal): Promise<void> {
    const failures: BatchFailure[] = [];
    const groups = new Map<string, { messages: Message[]; indices: number[] }>();
    const perRun = this.config.rotate === 'run';
    batch.forEach((message, index) => {
      let family: string;
      try {
        family = perRun
          ? stagingFamily(runOfMessage(message, this.runs), message, this.ctx.pipeline, this.config.timeZone)
          : this.familyOf(message);
      } catch (error) {
        failures.push({
          index,
          error: error instanceof FatalError ? error : new FatalError(`tab template: ${errorMessage(error)}`),
        });
        return;
      }
      const g = groups.get(family) ?? { messages: [], indices: [] };
      g.messages.push(message);
      g.indices.push(index);
      groups.set(family, g);
    });

    const chunks: Chunk[] = [];
    for (const [family, group] of groups)
      chunks.push(...(await this.prepare(connection, family, group, failures, signal)));

    const pending: Chunk[] = [];
    for (const chunk of chunks) {
      if (chunk.status === 'done') continue;
      if (chunk.status === 'sent' && (await connection.tabs.hasBatch(chunk, signal))) {
        await this.settle(connection, [chunk], 'done');
        this.rowsWritten.inc(undefined, chunk.rows.length);
        continue;
      }
      pending.push(chunk);
    }
    for (const request of packRequests(pending)) await this.send(connection, request, signal);
    if (this.runs.size > 0)
      recordRunRows(this.runs, perRun, { batch, chunks, failures }, (m) => this.familyOf(m));
    if (failures.length > 0) throw new BatchError(failures);
  }

  /** The tab family a message goes to: the `tab` template at the message's local time. */
  private familyOf(message: Message): string {
    const zone = this.config.timeZone;
    const local = zone === 'UTC' ? message : { ...message, time: localWallClock(message.time, zone) };
    return sanitizeTitle(this.tab(local, { pipeline: this.ctx.pipeline }));
  }

  /**
   * Lays out the rows of one tab family: the tab's shared header (extended with the columns this
   * sink brings, never reordered), one row per message, each message failing alone when it can
   * never be written; then cuts them into chunks and registers each chunk's batch id.
   */
  private async prepare(
    { store, tabs }: Connection,
    family: string,
    group: { messages: Message[]; indices: number[] },
    failures: BatchFailure[],
    signal: AbortSignal,
  ): Promise<Chunk[]> {
    let state = await sharedState(() => store.family(family));
    if (!state) {
      const found = await tabs.readFamily(family, signal);
      state = await sharedState(() => store.init(family, found));
    }
    const fail = (k: number, message: string): void => {
      failures.push({ index: group.indices[k] ?? 0, error: new FatalError(message) });
    };
    const usable = new Set(group.messages.keys());
    const missing = this.layout.missingColumns(family, state.header, group.messages, usable, fail);
    const header =
      missing.length > 0 ? await sharedState(() => store.extendHeader(family, missing)) : state.header;
    const { rows, formats, markerAt } = this.layout.layOut(header, group.messages, usable, fail);

    const cap = rowCap(this.config.maxRowsPerTab, header.length);
    const chunks: Chunk[] = [];
    for (const cut of cutChunks(family, rows, this.config.maxRowsPerTab, header.length, markerAt)) {
      const r = await sharedState(() => store.reserve(family, cut.key, cut.rows.length, cap));
      chunks.push({ ...cut, family, title: partTitle(family, r.part), status: r.status, header, formats });
    }
    return chunks;
  }

  /**
   * Sends chunks in one request (RAW: tabs, columns, header cells and the rows together, applied
   * atomically) or, with USER_ENTERED, the structure first and then one append per chunk. Each
   * chunk is marked as sent before, and as done after Google confirmed it.
   */
  private async send(connection: Connection, chunks: Chunk[], signal: AbortSignal): Promise<void> {
    const { api, tabs } = connection;
    const zone = this.config.timeZone;
    const raw = this.config.valueInputOption === 'RAW';
    if (raw) await this.settle(connection, chunks, 'sent');
    for (let round = 0; ; round++) {
      const known = await tabs.load(signal, round > 0);
      const structure = tabs.structure(chunks, known);
      if (raw)
        for (const c of chunks) {
          const { sheetId } = (known.get(c.title) ?? structure.added.get(c.title))!;
          structure.requests.push(appendCellsRequest(sheetId, c, zone));
        }
      if (structure.requests.length === 0) break;
      try {
        await api.batchUpdate(structure.requests, signal);
        tabs.applied(structure);
        break;
      } catch (error) {
        const e = apiError(error);
        // Another sink created the tab or grew it, or a person deleted it: look again and redo.
        if (
          round < 3 &&
          e.status === 400 &&
          /already exists|No grid with id|exceeds grid limits/i.test(e.message)
        )
          continue;
        if (refused(error)) await this.settle(connection, chunks, 'new');
        if (e.status === 400 && /above the limit of \d+ cells/i.test(e.message))
          throw new SinkStoppedError(
            `the spreadsheet ${this.config.spreadsheetId} is full (${e.message}). Point the sink at a new spreadsheet, or delete or shrink old tabs, then restart.`,
          );
        throw error;
      }
    }
    if (raw) {
      await this.settle(connection, chunks, 'done');
      this.rowsWritten.inc(
        undefined,
        chunks.reduce((n, c) => n + c.rows.length, 0),
      );
      return;
    }
    for (const c of chunks) {
      try {
        await api.write(
          (sheets, options) =>
            sheets.spreadsheets.values.append(
              {
                spreadsheetId: this.config.spreadsheetId,
                range: `${quoteTitle(c.title)}!A1`,
                valueInputOption: 'USER_ENTERED',
                insertDataOption: 'INSERT_ROWS',
                requestBody: { values: enteredRows(c, zone) },
              },
              options,
            ),
          signal,
          () => this.settle(connection, [c], 'sent'),
        );
      } catch (error) {
        if (refused(error)) await this.settle(connection, [c], 'new');
        throw error;
      }
      await this.settle(connection, [c], 'done');
      this.rowsWritten.inc(undefined, c.rows.length);
    }
  }

  private async settle({ store }: Connection, chunks: Chunk[], status: ChunkStatus): Promise<void> {
    for (const c of chunks) {
      if (c.status === status) continue;
      await sharedState(() => store.mark(c.family, c.key, status));
      c.status = status;
    }
  }
}

function hashed(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
