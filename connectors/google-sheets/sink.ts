import { createHash, randomInt } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import type { sheets_v4 } from '@googleapis/sheets';
import { Redis } from 'ioredis';
import {
  BatchError,
  ConfigError,
  FatalError,
  InferredColumns,
  NotConnectedError,
  PasserelleError,
  RetryableError,
  SinkStoppedError,
  compileColumns,
  compileTemplate,
  errorMessage,
  escapeFormula,
  formatDate,
  payloadExpression,
  redact,
  redactUrl,
  scalarPaths,
  sleep,
  toRow,
  type BatchFailure,
  type CellValue,
  type Column,
  type ComponentContext,
  type ComponentCounter,
  type Message,
  type RenderFn,
  type Run,
  type RunAwareSink,
  type RunOutput,
  type Sink,
  RUN_META_KEY,
} from '../../src/sdk/index.js';
import {
  beginRun,
  discardRequests,
  endRunRequests,
  runOfMessage,
  RUNS_RANGE,
  RUNS_TAB,
  stagingFamily,
  type ActiveRun,
} from './run-output.js';
import {
  columnLetters,
  localWallClock,
  partOf,
  partTitle,
  quoteTitle,
  sanitizeTitle,
  toSerial,
  withoutWindowParts,
} from './a1.js';
import { createSheetsAuth, type SheetsAuth } from './auth.js';
import { RedisQuota, sharedMemoryQuota, type WriteQuota } from './quota.js';
import { MAX_CELLS, type GoogleSheetsSinkConfig } from './spec.js';
import {
  RedisTabStore,
  UninitialisedFamilyError,
  sharedMemoryTabStore,
  type ChunkStatus,
  type ColumnSpec,
  type TabStore,
} from './state.js';

/** Google refuses a cell of more than 50,000 characters (the whole request would fail). */
const MAX_CELL_CHARS = 50_000;
/** Google's column limit per tab (`ZZZ`). */
const MAX_COLUMNS = 18_278;
/** Google recommends at most 2 MB per request; requests are cut below it. */
const MAX_REQUEST_BYTES = 2_000_000;
/**
 * Message data per chunk (the unit a batch id is given to). Cut from the cells' own sizes, not the
 * tab's width, so a retry cuts the batch the same way after the header grew; the margin leaves
 * room for the empty cells and the batch ids in the request.
 */
const MAX_CHUNK_BYTES = 1_500_000;
/** A quota wait longer than this is handed back to the outbox (retry later) instead of held in write(). */
const MAX_INLINE_QUOTA_WAIT_MS = 30_000;
/** New tabs start with this many rows, as Google creates them, and at most this many cells. */
const INITIAL_ROWS = 1000;
const INITIAL_CELLS = 1_000_000;
/** The value expression that marks the batch id column in the shared header. */
const BATCH_ID_VALUE = '@batch';
/** appendCells writes values and number formats of every cell of the new rows. */
const CELL_FIELDS = 'userEnteredValue,userEnteredFormat.numberFormat';

export interface GoogleSheetsSinkOptions {
  /** Auth client to use instead of the configured credentials (tests: a static token). */
  auth?: SheetsAuth;
}

interface TabInfo {
  sheetId: number;
  columnCount: number;
}

/** Rows of one batch for one tab, under one batch id: sent, checked and confirmed together. */
interface Chunk {
  family: string;
  title: string;
  /** The batch id: the same messages give the same id; every row carries it. */
  key: string;
  status: ChunkStatus;
  /** The tab's header when the rows were laid out (the rows are as wide as it). */
  header: ColumnSpec[];
  rows: CellValue[][];
  /** Number format per column position (RAW cells carry their format). */
  formats: (string | undefined)[];
  /** Request size estimate of the rows. */
  bytes: number;
}

interface ApiError {
  status: number | undefined;
  message: string;
  retryAfterMs: number | undefined;
  url: string | undefined;
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
  private api: sheets_v4.Sheets | undefined;
  private auth: SheetsAuth | undefined;
  private store: TabStore | undefined;
  private quota: WriteQuota | undefined;
  private tabs: Map<string, TabInfo> | undefined;
  /** Header cells this sink knows are in row 1 of a tab (written or read). */
  private readonly headerWritten = new Map<string, number>();
  private stopped: SinkStoppedError | undefined;
  private reachable = true;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly tab: RenderFn;
  private readonly configured: Column[] | undefined;
  private readonly compiled = new Map<string, Column | null>();
  private readonly host: { hostname: string; port: number };
  private readonly cellErrors: ComponentCounter;
  private readonly rowsWritten: ComponentCounter;
  private readonly requests: ComponentCounter;
  /** Runs begun and not ended (scheduled pipelines), by run id. */
  private readonly runs = new Map<string, ActiveRun>();

  constructor(
    private readonly config: GoogleSheetsSinkConfig,
    private readonly ctx: ComponentContext,
    private readonly options: GoogleSheetsSinkOptions = {},
  ) {
    this.tab = compileTemplate(withoutWindowParts(config.tab));
    this.configured = config.columns ? compileColumns(config.columns) : undefined;
    const url = new URL(config.rootUrl);
    this.host = {
      hostname: url.hostname,
      port: Number(url.port) || (url.protocol === 'https:' ? 443 : 80),
    };
    this.cellErrors = ctx.metrics.counter(
      'passerelle_google_sheets_cell_errors_total',
      'Values that could not be converted to their column type (the cell is left empty).',
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
    this.stopped = undefined;
    this.reachable = true;
    try {
      this.auth = this.options.auth ?? (await createSheetsAuth(this.config.auth));
    } catch (error) {
      if (error instanceof ConfigError) return this.stop(error.message);
      throw error;
    }
    // Only the Sheets client (not the whole googleapis tree): a fraction of the start time and memory.
    const { sheets } = await import('@googleapis/sheets');
    this.api = sheets({ version: 'v4', auth: this.auth.client, rootUrl: this.config.rootUrl });
    const ttl = this.config.reservationTtl;
    if (this.ctx.redisUrl) {
      const redis = new Redis(this.ctx.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: false });
      redis.on('error', (error: Error) =>
        this.ctx.logger.debug({ err: redact(error.message) }, 'redis connection error'),
      );
      const prefix = `passerelle:google-sheets:${this.config.spreadsheetId}:`;
      this.store = new RedisTabStore(redis, prefix, ttl);
      this.quota = new RedisQuota(
        redis,
        `passerelle:google-sheets:quota:${hashed(this.auth.account)}`,
        this.config.quota,
      );
    } else {
      // One store per spreadsheet and one bucket per Google identity in the process, whatever
      // number of sinks use them.
      this.store = sharedMemoryTabStore(this.config.spreadsheetId, ttl);
      this.quota = sharedMemoryQuota(this.auth.account, this.config.quota);
    }
    try {
      await this.loadTabs(signal);
    } catch (error) {
      const mapped = this.classify(error, signal);
      if (mapped instanceof SinkStoppedError) return;
      throw mapped;
    }
    this.startProbe();
  }

  async write(batch: Message[], signal: AbortSignal): Promise<void> {
    if (this.stopped) throw this.stopped;
    if (!this.api || !this.store) throw new NotConnectedError('google-sheets sink: write() before connect()');
    if (!this.reachable)
      throw new NotConnectedError(`the Sheets API at ${redactUrl(this.config.rootUrl)} is unreachable`);
    try {
      await this.writeBatch(batch, signal);
    } catch (error) {
      throw this.classify(error, signal);
    }
  }

  async close(): Promise<void> {
    this.runs.clear();
    await this.release();
  }

  // ---------------------------------------------------------------- runs (scheduled pipelines)

  /** A run begins (run-output.ts): with `rotate: run`, the staging tabs of its earlier attempts go. */
  async beginRun(run: Run, signal: AbortSignal): Promise<void> {
    if (this.stopped) throw this.stopped;
    if (!this.api) throw new NotConnectedError('google-sheets sink: beginRun() before connect()');
    if (this.config.rotate === 'run') {
      try {
        const requests = discardRequests(await this.describeTabs(signal), run.id);
        if (requests.length > 0) {
          await this.batchUpdate(requests, signal);
          this.ctx.logger.info(
            { run: run.id, tabs: requests.length },
            'earlier attempt of the run discarded',
          );
        }
      } catch (error) {
        throw this.classify(error, signal);
      }
    }
    this.runs.set(run.id, beginRun(run, this.config.tab, this.config.timeZone));
  }

  /**
   * The run's batches are all written: with `rotate: run`, one atomic request renames its staging
   * tabs into place (replacing an earlier attempt's) and records it in `_runs`.
   */
  async endRun(run: Run, signal: AbortSignal): Promise<RunOutput> {
    if (this.stopped) throw this.stopped;
    const active = this.runs.get(run.id);
    if (!active)
      throw new FatalError(`google-sheets: run ${run.id} ended without beginRun (or the sink was restarted)`);
    if (this.config.rotate !== 'run') {
      this.runs.delete(run.id);
      return { targets: [...active.targets], rows: active.chunks.size };
    }
    try {
      const sheets = await this.describeTabs(signal);
      const runsSheet = sheets.find((s) => s.properties?.title === RUNS_TAB)?.properties;
      let runsTab: { sheetId: number; rows: unknown[][] } | undefined;
      if (runsSheet?.sheetId !== undefined && runsSheet.sheetId !== null) {
        const res = await this.call(
          'read',
          (options) =>
            this.api!.spreadsheets.values.get(
              {
                spreadsheetId: this.config.spreadsheetId,
                range: RUNS_RANGE,
                valueRenderOption: 'UNFORMATTED_VALUE',
              },
              options,
            ),
          signal,
        );
        runsTab = { sheetId: runsSheet.sheetId, rows: (res.data.values ?? []) as unknown[][] };
      }
      const { requests, output } = endRunRequests(active, sheets, runsTab, Date.now(), () =>
        randomInt(1, 2 ** 31 - 1),
      );
      await this.batchUpdate(requests, signal);
      this.runs.delete(run.id);
      this.ctx.logger.info({ run: run.id, tabs: output.targets, rows: output.rows }, 'run written');
      return output;
    } catch (error) {
      throw this.classify(error, signal);
    }
  }

  /** Every tab with its properties and developer metadata. */
  private async describeTabs(signal: AbortSignal): Promise<sheets_v4.Schema$Sheet[]> {
    const res = await this.call(
      'read',
      (options) =>
        this.api!.spreadsheets.get(
          { spreadsheetId: this.config.spreadsheetId, fields: 'sheets(properties,developerMetadata)' },
          options,
        ),
      signal,
    );
    return res.data.sheets ?? [];
  }

  /** One structural write (tabs renamed, deleted): the tab cache is read again after it. */
  private async batchUpdate(requests: sheets_v4.Schema$Request[], signal: AbortSignal): Promise<void> {
    await this.takeToken(signal);
    try {
      await this.call(
        'write',
        (options) =>
          this.api!.spreadsheets.batchUpdate(
            { spreadsheetId: this.config.spreadsheetId, requestBody: { requests } },
            options,
          ),
        signal,
      );
    } finally {
      this.tabs = undefined;
      this.headerWritten.clear();
    }
  }

  private async release(): Promise<void> {
    clearInterval(this.probeTimer);
    this.probeTimer = undefined;
    const store = this.store;
    this.store = undefined;
    this.quota = undefined;
    this.api = undefined;
    this.tabs = undefined;
    this.headerWritten.clear();
    await store?.close();
  }

  private stop(reason: string): void {
    this.stopped = new SinkStoppedError(`google-sheets sink stopped: ${reason}`);
    this.ctx.setState('stopped', this.stopped);
  }

  // ---------------------------------------------------------------------------------------------

  private async writeBatch(batch: Message[], signal: AbortSignal): Promise<void> {
    const failures: BatchFailure[] = [];
    const groups = new Map<string, { messages: Message[]; indices: number[] }>();
    const zone = this.config.timeZone;
    const perRun = this.config.rotate === 'run';
    batch.forEach((message, index) => {
      let family: string;
      try {
        if (perRun)
          family = stagingFamily(runOfMessage(message, this.runs), message, this.ctx.pipeline, zone);
        else {
          const local = zone === 'UTC' ? message : { ...message, time: localWallClock(message.time, zone) };
          family = sanitizeTitle(this.tab(local, { pipeline: this.ctx.pipeline }));
        }
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
      chunks.push(...(await this.prepare(family, group, failures, signal)));

    const pending: Chunk[] = [];
    for (const chunk of chunks) {
      if (chunk.status === 'done') continue;
      if (chunk.status === 'sent' && (await this.alreadyWritten(chunk, signal))) {
        await this.settle([chunk], 'done');
        this.rowsWritten.inc(undefined, chunk.rows.length);
        continue;
      }
      pending.push(chunk);
    }
    for (const request of packRequests(pending)) await this.send(request, signal);
    if (this.runs.size > 0) this.countRunRows(batch, chunks, failures);
    if (failures.length > 0) throw new BatchError(failures);
  }

  /** What a run wrote (for endRun): its chunks (`rotate: run`), or its messages and their tabs. */
  private countRunRows(batch: Message[], chunks: Chunk[], failures: BatchFailure[]): void {
    if (this.config.rotate === 'run') {
      const byStaging = new Map<string, ActiveRun>();
      for (const active of this.runs.values())
        for (const staging of active.staging.values()) byStaging.set(staging, active);
      for (const c of chunks) byStaging.get(c.family)?.chunks.set(c.key, c.rows.length);
      return;
    }
    const failed = new Set(failures.map((f) => f.index));
    const titles = new Map(chunks.map((c) => [c.family, c.title]));
    const zone = this.config.timeZone;
    batch.forEach((message, index) => {
      const id = (message.meta[RUN_META_KEY] as { id?: unknown } | undefined)?.id;
      const active = typeof id === 'string' ? this.runs.get(id) : undefined;
      if (!active || failed.has(index)) return;
      active.chunks.set(message.id, 1);
      const local = zone === 'UTC' ? message : { ...message, time: localWallClock(message.time, zone) };
      const title = titles.get(sanitizeTitle(this.tab(local, { pipeline: this.ctx.pipeline })));
      if (title) active.targets.add(title);
    });
  }

  /**
   * Lays out the rows of one tab family: the tab's shared header (extended with the columns this
   * sink brings, never reordered), one row per message, each message failing alone when it can
   * never be written; then cuts them into chunks and registers each chunk's batch id.
   */
  private async prepare(
    family: string,
    group: { messages: Message[]; indices: number[] },
    failures: BatchFailure[],
    signal: AbortSignal,
  ): Promise<Chunk[]> {
    const store = this.store!;
    let state = await this.shared(() => store.family(family));
    if (!state) {
      const found = await this.readFamily(family, signal);
      state = await this.shared(() => store.init(family, found));
    }
    const fail = (k: number, message: string): void => {
      failures.push({ index: group.indices[k] ?? 0, error: new FatalError(message) });
    };
    const usable = new Set(group.messages.keys());
    const marker: ColumnSpec = { header: this.config.batchIdColumn, value: BATCH_ID_VALUE };
    let own: ColumnSpec[];
    if (this.configured) own = this.configured.map((c) => ({ header: c.header, value: c.value }));
    else own = this.inferColumns(group.messages, usable, fail);
    let header = state.header;
    const known = new Set(header.map((c) => c.header));
    const missing = [...own, marker].filter((c) => !known.has(c.header));
    if (header.length + missing.length > MAX_COLUMNS) {
      // Only the messages that bring new columns can not be written.
      const newHeaders = new Set(missing.map((c) => c.header));
      group.messages.forEach((m, k) => {
        if (!usable.has(k)) return;
        const brings = this.configured ? [...newHeaders] : payloadPaths(m).filter((p) => newHeaders.has(p));
        if (brings.length === 0) return;
        usable.delete(k);
        fail(
          k,
          `the tab "${family}" would need more than the ${MAX_COLUMNS} columns Google allows (new field "${brings[0]}")`,
        );
      });
    } else if (missing.length > 0) header = await this.shared(() => store.extendHeader(family, missing));

    const at = new Map(header.map((c, i) => [c.header, i]));
    const markerAt = at.get(this.config.batchIdColumn);
    const placed: { column: Column; at: number }[] = [];
    if (this.configured)
      for (const c of this.configured) placed.push({ column: c, at: at.get(c.header) ?? -1 });
    else
      header.forEach((spec, i) => {
        const column = spec.header === this.config.batchIdColumn ? null : this.compile(spec);
        if (column) placed.push({ column, at: i });
      });
    const formats: (string | undefined)[] = new Array<string | undefined>(header.length).fill(undefined);
    for (const p of placed) if (p.at >= 0 && p.column.format) formats[p.at] ??= p.column.format;

    const rows: { row: CellValue[]; id: string; bytes: number }[] = [];
    group.messages.forEach((message, k) => {
      if (!usable.has(k)) return;
      let row: CellValue[];
      let bytes = 40;
      try {
        const { cells, errors } = toRow(
          placed.map((p) => p.column),
          message,
        );
        row = new Array<CellValue>(header.length).fill(null);
        for (let j = 0; j < cells.length; j++) {
          const cell = cells[j] ?? null;
          const to = placed[j]?.at ?? -1;
          if (to < 0 || cell === null) continue;
          if (typeof cell === 'string' && cell.length > MAX_CELL_CHARS)
            return fail(
              k,
              `a cell of ${cell.length} characters exceeds the ${MAX_CELL_CHARS} characters Google Sheets allows in one cell`,
            );
          row[to] = cell;
          bytes += cellBytes(cell);
        }
        if (errors.length > 0) {
          this.cellErrors.inc(undefined, errors.length);
          this.ctx.logger.debug({ id: message.id, errors }, 'values left empty');
        }
      } catch (error) {
        return fail(k, `the message can not be laid out as a row: ${errorMessage(error)}`);
      }
      if (bytes > MAX_CHUNK_BYTES)
        return fail(
          k,
          `the row takes about ${bytes} bytes, more than fits in one request (Google recommends at most ${MAX_REQUEST_BYTES} bytes)`,
        );
      rows.push({ row, id: message.id, bytes });
    });
    if (rows.length === 0) return [];

    const cap = this.rowCap(header.length);
    const chunks: Chunk[] = [];
    // Cut by the configured row cap (not the width-dependent one) and by the cells' own sizes:
    // a retry after the header grew must cut the batch the same way, or its ids would change.
    for (let start = 0, index = 0; start < rows.length; index++) {
      let end = start;
      let bytes = 0;
      while (
        end < rows.length &&
        end - start < this.config.maxRowsPerTab &&
        (end === start || bytes + rows[end]!.bytes <= MAX_CHUNK_BYTES)
      )
        bytes += rows[end++]!.bytes;
      const part = rows.slice(start, end);
      start = end;
      const key = batchKey(
        family,
        index,
        part.map((r) => r.id),
      );
      const r = await this.shared(() => store.reserve(family, key, part.length, cap));
      if (markerAt !== undefined) for (const p of part) p.row[markerAt] = key;
      chunks.push({
        family,
        title: partTitle(family, r.part),
        key,
        status: r.status,
        header,
        rows: part.map((p) => p.row),
        formats,
        bytes: bytes + part.length * (header.length * 3 + key.length + 40),
      });
    }
    return chunks;
  }

  /**
   * Columns inferred from the messages (time, then every scalar payload field). A payload field
   * whose column can not be made (a key no column path can name) fails its message, every time.
   */
  private inferColumns(
    messages: Message[],
    usable: Set<number>,
    fail: (k: number, message: string) => void,
  ): ColumnSpec[] {
    const seen = new InferredColumns();
    const bad = new Map<string, string>();
    messages.forEach((message, k) => {
      if (bad.size > 0) {
        const path = payloadPaths(message).find((p) => bad.has(p));
        if (path !== undefined) {
          usable.delete(k);
          return fail(k, bad.get(path)!);
        }
      }
      try {
        seen.observe([message]);
      } catch (error) {
        usable.delete(k);
        const reason = `payload field can not become a column: ${errorMessage(error)}`;
        for (const path of payloadPaths(message))
          if (this.compile({ header: path, value: payloadExpression(path) }) === null) bad.set(path, reason);
        fail(k, reason);
      }
    });
    return seen.columns
      .filter((c) => c.header !== this.config.batchIdColumn)
      .map((c) => ({ header: c.header, value: c.value }));
  }

  /** A column of the shared header; null when its value expression does not compile (left empty). */
  private compile(spec: ColumnSpec): Column | null {
    const key = `${spec.header}\u0000${spec.value}`;
    let column = this.compiled.get(key);
    if (column === undefined) {
      if (this.compiled.size > 2 * MAX_COLUMNS) this.compiled.clear();
      try {
        column = compileColumns([spec])[0] ?? null;
      } catch {
        column = null;
      }
      this.compiled.set(key, column);
    }
    return column;
  }

  /** Where a family stands in the spreadsheet: its last part, its rows, the header row. */
  private async readFamily(
    family: string,
    signal: AbortSignal,
  ): Promise<{ part: number; cursor: number; header: ColumnSpec[] }> {
    const tabs = await this.loadTabs(signal);
    let part = 0;
    for (const title of tabs.keys()) part = Math.max(part, partOf(family, title) ?? 0);
    if (part === 0) return { part: 1, cursor: 2, header: [] };
    const title = partTitle(family, part);
    const res = await this.call(
      'read',
      (options) =>
        this.api!.spreadsheets.values.get(
          {
            spreadsheetId: this.config.spreadsheetId,
            range: quoteTitle(title),
            valueRenderOption: 'UNFORMATTED_VALUE',
          },
          options,
        ),
      signal,
    );
    const values = (res.data.values ?? []) as unknown[][];
    const cells = (values[0] ?? []).map((h) => String(h ?? ''));
    this.headerWritten.set(title, cells.length);
    const seen = new Set<string>();
    const header = cells
      .filter((h) => h !== '')
      .map((h) => {
        const value =
          h === this.config.batchIdColumn
            ? BATCH_ID_VALUE
            : h === 'time'
              ? 'time'
              : payloadExpression(fieldOf(h, seen));
        seen.add(h);
        return { header: h, value };
      });
    return { part, cursor: Math.max(2, values.length + 1), header };
  }

  /** Rows of data per tab: the configured cap, and never past Google's 10 million cells in one tab. */
  private rowCap(width: number): number {
    return Math.max(1, Math.min(this.config.maxRowsPerTab, Math.floor(MAX_CELLS / Math.max(width, 1)) - 1));
  }

  private async loadTabs(signal: AbortSignal, refresh = false): Promise<Map<string, TabInfo>> {
    if (this.tabs && !refresh) return this.tabs;
    const res = await this.call(
      'read',
      (options) =>
        this.api!.spreadsheets.get(
          { spreadsheetId: this.config.spreadsheetId, fields: 'sheets.properties' },
          options,
        ),
      signal,
    );
    const tabs = new Map<string, TabInfo>();
    for (const sheet of res.data.sheets ?? []) {
      const p = sheet.properties;
      if (!p?.title || p.sheetId === undefined || p.sheetId === null) continue;
      tabs.set(p.title, { sheetId: p.sheetId, columnCount: p.gridProperties?.columnCount ?? 26 });
    }
    this.tabs = tabs;
    return tabs;
  }

  /** Whether the chunk's batch id is in its tab: it was applied, only its answer was lost. */
  private async alreadyWritten(chunk: Chunk, signal: AbortSignal): Promise<boolean> {
    const at = chunk.header.findIndex((c) => c.header === this.config.batchIdColumn);
    if (at < 0) return false;
    const letter = columnLetters(at + 1);
    try {
      const res = await this.call(
        'read',
        (options) =>
          this.api!.spreadsheets.values.get(
            {
              spreadsheetId: this.config.spreadsheetId,
              range: `${quoteTitle(chunk.title)}!${letter}:${letter}`,
              valueRenderOption: 'UNFORMATTED_VALUE',
            },
            options,
          ),
        signal,
      );
      return ((res.data.values ?? []) as unknown[][]).some((row) => row[0] === chunk.key);
    } catch (error) {
      const e = apiError(error);
      // The tab is gone (deleted by hand): the chunk is not in the spreadsheet.
      if (e.status === 400 && /Unable to parse range/i.test(e.message)) return false;
      throw error;
    }
  }

  /**
   * Sends chunks in one request (RAW: tabs, columns, header cells and the rows together, applied
   * atomically) or, with USER_ENTERED, the structure first and then one append per chunk. Each
   * chunk is marked as sent before, and as done after Google confirmed it.
   */
  private async send(chunks: Chunk[], signal: AbortSignal): Promise<void> {
    const raw = this.config.valueInputOption === 'RAW';
    if (raw) await this.settle(chunks, 'sent');
    for (let round = 0; ; round++) {
      const tabs = await this.loadTabs(signal, round > 0);
      const { requests, added } = this.structure(chunks, tabs);
      if (raw)
        for (const c of chunks)
          requests.push({
            appendCells: {
              sheetId: (tabs.get(c.title) ?? added.get(c.title))!.sheetId,
              rows: c.rows.map((row) => ({
                values: row.map((cell, i) => this.cellData(cell, c.formats[i])),
              })),
              fields: CELL_FIELDS,
            },
          });
      if (requests.length === 0) break;
      await this.takeToken(signal);
      try {
        await this.call(
          'write',
          (options) =>
            this.api!.spreadsheets.batchUpdate(
              { spreadsheetId: this.config.spreadsheetId, requestBody: { requests } },
              options,
            ),
          signal,
        );
        this.applyStructure(requests, added);
        break;
      } catch (error) {
        const e = apiError(error);
        const refused = e.status !== undefined && e.status >= 400 && e.status < 500;
        // Another sink created the tab or grew it, or a person deleted it: look again and redo.
        if (
          round < 3 &&
          e.status === 400 &&
          /already exists|No grid with id|exceeds grid limits/i.test(e.message)
        )
          continue;
        if (refused) await this.settle(chunks, 'new');
        if (e.status === 400 && /above the limit of \d+ cells/i.test(e.message))
          throw new SinkStoppedError(
            `the spreadsheet ${this.config.spreadsheetId} is full (${e.message}). Point the sink at a new spreadsheet, or delete or shrink old tabs, then restart.`,
          );
        throw error;
      }
    }
    if (raw) {
      await this.settle(chunks, 'done');
      this.rowsWritten.inc(
        undefined,
        chunks.reduce((n, c) => n + c.rows.length, 0),
      );
      return;
    }
    for (const c of chunks) {
      await this.takeToken(signal);
      await this.settle([c], 'sent');
      try {
        await this.call(
          'write',
          (options) =>
            this.api!.spreadsheets.values.append(
              {
                spreadsheetId: this.config.spreadsheetId,
                range: `${quoteTitle(c.title)}!A1`,
                valueInputOption: 'USER_ENTERED',
                insertDataOption: 'INSERT_ROWS',
                requestBody: { values: c.rows.map((row) => row.map((cell) => this.enteredValue(cell))) },
              },
              options,
            ),
          signal,
        );
      } catch (error) {
        const status = apiError(error).status;
        if (status !== undefined && status >= 400 && status < 500) await this.settle([c], 'new');
        throw error;
      }
      await this.settle([c], 'done');
      this.rowsWritten.inc(undefined, c.rows.length);
    }
  }

  private async settle(chunks: Chunk[], status: ChunkStatus): Promise<void> {
    for (const c of chunks) {
      if (c.status === status) continue;
      await this.shared(() => this.store!.mark(c.family, c.key, status));
      c.status = status;
    }
  }

  /**
   * The structural requests the chunks need: missing tabs (with a frozen header row), columns for
   * a grown header, and the header cells this sink has not seen in row 1 (only ever to the right
   * of those it has seen).
   */
  private structure(
    chunks: Chunk[],
    tabs: Map<string, TabInfo>,
  ): { requests: sheets_v4.Schema$Request[]; added: Map<string, TabInfo> } {
    const widest = new Map<string, ColumnSpec[]>();
    for (const c of chunks)
      if ((widest.get(c.title)?.length ?? -1) < c.header.length) widest.set(c.title, c.header);
    const requests: sheets_v4.Schema$Request[] = [];
    const added = new Map<string, TabInfo>();
    for (const [title, header] of widest) {
      const width = Math.max(header.length, 1);
      let info = tabs.get(title);
      let from = this.headerWritten.get(title) ?? 0;
      if (!info) {
        info = { sheetId: randomInt(1, 2 ** 31 - 1), columnCount: width };
        added.set(title, info);
        from = 0;
        requests.push({
          addSheet: {
            properties: {
              sheetId: info.sheetId,
              title,
              gridProperties: {
                // Appends grow the grid: a wide tab starts small, leaving the spreadsheet's cells to data.
                rowCount: Math.max(
                  2,
                  Math.min(INITIAL_ROWS, this.rowCap(width) + 1, Math.floor(INITIAL_CELLS / width)),
                ),
                columnCount: width,
                frozenRowCount: 1,
              },
            },
          },
        });
      } else if (width > info.columnCount)
        requests.push({
          appendDimension: { sheetId: info.sheetId, dimension: 'COLUMNS', length: width - info.columnCount },
        });
      if (from < header.length) {
        requests.push({
          updateCells: {
            start: { sheetId: info.sheetId, rowIndex: 0, columnIndex: from },
            rows: [
              { values: header.slice(from).map((c) => ({ userEnteredValue: { stringValue: c.header } })) },
            ],
            fields: 'userEnteredValue',
          },
        });
        // The batch id column is bookkeeping: hidden when its header is written, in the same
        // request. Only then: a person who shows it again keeps it shown.
        const marker = header.findIndex((c) => c.header === this.config.batchIdColumn);
        if (marker >= from)
          requests.push({
            updateDimensionProperties: {
              range: {
                sheetId: info.sheetId,
                dimension: 'COLUMNS',
                startIndex: marker,
                endIndex: marker + 1,
              },
              properties: { hiddenByUser: true },
              fields: 'hiddenByUser',
            },
          });
      }
    }
    return { requests, added };
  }

  /** Records what Google confirmed: new tabs, grown columns, header cells written. */
  private applyStructure(requests: sheets_v4.Schema$Request[], added: Map<string, TabInfo>): void {
    const tabs = this.tabs!;
    for (const [title, info] of added) tabs.set(title, info);
    const byId = new Map([...tabs].map(([title, t]) => [t.sheetId, { title, t }]));
    for (const r of requests) {
      if (r.appendDimension?.dimension === 'COLUMNS') {
        const tab = byId.get(r.appendDimension.sheetId ?? -1);
        if (tab) tab.t.columnCount += r.appendDimension.length ?? 0;
      } else if (r.updateCells?.start) {
        const tab = byId.get(r.updateCells.start.sheetId ?? -1);
        const width = (r.updateCells.start.columnIndex ?? 0) + (r.updateCells.rows?.[0]?.values?.length ?? 0);
        if (tab) this.headerWritten.set(tab.title, Math.max(this.headerWritten.get(tab.title) ?? 0, width));
      }
    }
  }

  /** A RAW cell: typed value and, for dates and formatted columns, its number format. */
  private cellData(cell: CellValue, format: string | undefined): sheets_v4.Schema$CellData {
    if (cell === null) return {};
    let value: sheets_v4.Schema$ExtendedValue;
    let type = 'NUMBER';
    if (cell instanceof Date) {
      value = { numberValue: toSerial(new Date(localWallClock(cell.getTime(), this.config.timeZone))) };
      type = 'DATE_TIME';
    } else if (typeof cell === 'number') value = { numberValue: cell };
    else if (typeof cell === 'boolean') value = { boolValue: cell };
    else value = { stringValue: cell };
    if (!format || value.stringValue !== undefined || value.boolValue !== undefined)
      return { userEnteredValue: value };
    return { userEnteredValue: value, userEnteredFormat: { numberFormat: { type, pattern: format } } };
  }

  /** A USER_ENTERED value: typed text is parsed by Sheets; formula-like text is kept as text. */
  private enteredValue(cell: CellValue): unknown {
    if (cell === null) return null;
    if (cell instanceof Date)
      return formatDate(localWallClock(cell.getTime(), this.config.timeZone), 'YYYY-MM-DD HH:mm:ss');
    if (typeof cell === 'string') return escapeFormula(cell);
    return cell;
  }

  /** Runs a call on the shared state; without Redis the sink can not reserve rows safely, so it waits. */
  private async shared<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      if (error instanceof UninitialisedFamilyError)
        throw new RetryableError(`the state of tab "${error.message}" expired; it is read again`);
      throw new NotConnectedError(
        `the Redis holding the sink's shared state (row cursors, quota) is unavailable: ${redact(errorMessage(error))}`,
        { cause: error },
      );
    }
  }

  /** Waits for a write token of the account (shared by every replica with Redis). */
  private async takeToken(signal: AbortSignal): Promise<void> {
    for (;;) {
      const wait = await this.shared(() => this.quota!.take());
      if (wait <= 0) return;
      if (wait > MAX_INLINE_QUOTA_WAIT_MS)
        throw new RetryableError(`write quota of the account exhausted for ${Math.ceil(wait / 1000)} s`, {
          retryAfterMs: wait,
        });
      await sleep(wait, signal);
      if (signal.aborted) throw new RetryableError('write aborted while waiting for the write quota');
    }
  }

  /** One API call with the request timeout and the write's signal; googleapis' own retries are off. */
  private async call<T>(
    kind: 'read' | 'write',
    run: (options: { signal: AbortSignal; timeout: number; retry: boolean }) => Promise<T>,
    signal: AbortSignal,
  ): Promise<T> {
    const timeout = AbortSignal.timeout(this.config.requestTimeout);
    try {
      const result = await run({
        signal: AbortSignal.any([signal, timeout]),
        timeout: this.config.requestTimeout,
        retry: false,
      });
      this.requests.inc({ kind, status: '200' });
      this.markReachable();
      return result;
    } catch (error) {
      const e = apiError(error);
      this.requests.inc({ kind, status: e.status ? String(e.status) : 'network' });
      if (e.status === undefined && timeout.aborted && !signal.aborted)
        throw new RetryableError(
          `no answer from the Sheets API within ${this.config.requestTimeout} ms (the batch will be written again to the same rows)`,
          { cause: error },
        );
      throw error;
    }
  }

  /** Maps any failure to the SDK's error vocabulary. */
  private classify(error: unknown, signal: AbortSignal): Error {
    if (error instanceof PasserelleError) {
      if (error instanceof SinkStoppedError && !this.stopped) {
        this.stopped = error;
        this.ctx.setState('stopped', error);
      }
      return error;
    }
    const e = apiError(error);
    const tokenUrl = 'tokenUrl' in this.config.auth ? this.config.auth.tokenUrl : undefined;
    if (e.url && tokenUrl && e.url.startsWith(tokenUrl)) {
      this.stop(
        `Google refused the OAuth credentials at ${redactUrl(tokenUrl)}: ${e.message} (is the refresh token revoked or expired, or the client id/secret wrong?)`,
      );
      return this.stopped!;
    }
    switch (true) {
      case e.status === 401:
        this.stop(
          `Google refused the credentials (401: ${e.message}). Check auth: the service account key or the OAuth refresh token.`,
        );
        return this.stopped!;
      case e.status === 403:
        this.stop(
          `no permission on spreadsheet ${this.config.spreadsheetId} (403: ${e.message}). Share the spreadsheet with ${this.auth?.account ?? 'the account'} as Editor, and enable the Google Sheets API in the project.`,
        );
        return this.stopped!;
      case e.status === 404:
        this.stop(
          `spreadsheet ${this.config.spreadsheetId} not found (404: ${e.message}). Check spreadsheetId.`,
        );
        return this.stopped!;
      case e.status === 429: {
        const wait = e.retryAfterMs ?? this.config.quota.backoff;
        void this.quota?.block(wait).catch(() => {});
        return new RetryableError(`Google Sheets quota exceeded (429: ${e.message})`, { retryAfterMs: wait });
      }
      case e.status === 408 || (e.status !== undefined && e.status >= 500):
        return new RetryableError(`Google Sheets answered ${e.status}: ${e.message}`);
      case e.status === 400 &&
        /exceeds grid limits|Unable to parse range|No grid with id|already exists/i.test(e.message):
        // A tab deleted, shrunk or created meanwhile (by a person or another sink): read the tabs again and retry.
        this.tabs = undefined;
        this.headerWritten.clear();
        return new RetryableError(`the spreadsheet changed under the sink (400: ${e.message})`);
      case e.status !== undefined && e.status >= 400 && e.status < 500:
        return new FatalError(`Google Sheets refused the batch (${e.status}): ${e.message}`);
      default:
        if (signal.aborted) return new RetryableError('write aborted');
        this.markUnreachable(error);
        return new NotConnectedError(
          `the Sheets API at ${redactUrl(this.config.rootUrl)} can not be reached: ${redact(e.message)}`,
          { cause: error },
        );
    }
  }

  private markReachable(): void {
    if (this.reachable) return;
    this.reachable = true;
    if (!this.stopped) this.ctx.setState('connected');
  }

  private markUnreachable(error: unknown): void {
    if (!this.reachable || this.stopped) return;
    this.reachable = false;
    this.ctx.setState('reconnecting', error instanceof Error ? error : new Error(String(error)));
  }

  /** A TCP connection to the API host now and then: readiness follows an outage even while idle. */
  private startProbe(): void {
    const probe = (): void => {
      const socket = tcpConnect({ host: this.host.hostname, port: this.host.port, timeout: 5_000 });
      socket.once('connect', () => {
        socket.destroy();
        this.markReachable();
      });
      const fail = (error?: Error): void => {
        socket.destroy();
        this.markUnreachable(
          error ?? new Error(`no TCP connection to ${this.host.hostname}:${this.host.port}`),
        );
      };
      socket.once('timeout', () => fail());
      socket.once('error', fail);
    };
    this.probeTimer = setInterval(probe, this.config.probeInterval);
    this.probeTimer.unref();
  }
}

/** Groups chunks into requests of at most MAX_REQUEST_BYTES (a chunk is never split). */
function packRequests(chunks: Chunk[]): Chunk[][] {
  const out: Chunk[][] = [];
  let current: Chunk[] = [];
  let bytes = 0;
  for (const c of chunks) {
    if (current.length > 0 && bytes + c.bytes > MAX_REQUEST_BYTES) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(c);
    bytes += c.bytes;
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Size of a cell in a request (JSON of its CellData, with a format for dates). */
function cellBytes(cell: CellValue): number {
  if (typeof cell === 'string') return Buffer.byteLength(JSON.stringify(cell)) + 40;
  if (cell instanceof Date) return 120;
  return 50;
}

/** The dotted paths of the scalar payload fields of a message (what inferred columns are named). */
function payloadPaths(message: Message): string[] {
  const p = message.payload;
  return p !== null && typeof p === 'object' && !(p instanceof Uint8Array) ? scalarPaths(p) : ['value'];
}

function hashed(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** The batch id of a chunk: the same messages give the same id (22 characters, 128 bits). */
function batchKey(family: string, chunk: number, ids: string[]): string {
  const h = createHash('sha256');
  h.update(family);
  h.update(`\u0000${chunk}`);
  for (const id of ids) h.update(`\u0000${id}`);
  return h.digest('base64url').slice(0, 22);
}

function apiError(error: unknown): ApiError {
  const e = error as {
    status?: unknown;
    message?: unknown;
    response?: { status?: number; headers?: unknown; data?: unknown };
    config?: { url?: unknown };
  };
  const status =
    typeof e?.response?.status === 'number'
      ? e.response.status
      : typeof e?.status === 'number'
        ? e.status
        : undefined;
  const data = e?.response?.data as
    { error?: { message?: unknown } | string; error_description?: unknown } | undefined;
  const message =
    (typeof data?.error === 'object' && typeof data.error.message === 'string' && data.error.message) ||
    (typeof data?.error_description === 'string' && `${String(data.error)}: ${data.error_description}`) ||
    (typeof data?.error === 'string' && data.error) ||
    errorMessage(error);
  let retryAfter: string | null | undefined;
  const headers = e?.response?.headers;
  if (headers && typeof (headers as Headers).get === 'function')
    retryAfter = (headers as Headers).get('retry-after');
  else if (headers && typeof headers === 'object')
    retryAfter = (headers as Record<string, string>)['retry-after'];
  return {
    status,
    message,
    retryAfterMs: parseRetryAfter(retryAfter),
    url: e?.config?.url === undefined ? undefined : String(e.config.url),
  };
}

/** Retry-After: seconds, or an HTTP date. */
export function parseRetryAfter(value: string | null | undefined): number | undefined {
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

export { columnLetters };

/**
 * The payload path behind a header read back from the tab. uniqueHeader() names a field that
 * collides with an earlier column `name (2)`, `name (3)`...: such a header reads the field `name`.
 */
function fieldOf(header: string, earlier: ReadonlySet<string>): string {
  const m = / \((\d+)\)$/.exec(header);
  if (m && Number(m[1]) >= 2) {
    const base = header.slice(0, m.index);
    if (earlier.has(base)) return base;
  }
  return header;
}
