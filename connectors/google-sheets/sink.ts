import { createHash, randomInt } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import type { sheets_v4 } from 'googleapis';
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
  payloadExpression,
  redact,
  redactUrl,
  sleep,
  toRow,
  type BatchFailure,
  type CellValue,
  type Column,
  type ComponentContext,
  type ComponentCounter,
  type Message,
  type RenderFn,
  type Sink,
} from '../../src/sdk/index.js';
import { columnLetters, partOf, partTitle, quoteTitle, rowsRange, sanitizeTitle, toSerial } from './a1.js';
import { createSheetsAuth, type SheetsAuth } from './auth.js';
import { MemoryQuota, RedisQuota, type WriteQuota } from './quota.js';
import { MAX_CELLS, type GoogleSheetsSinkConfig } from './spec.js';
import {
  MemoryTabStore,
  RedisTabStore,
  UninitialisedFamilyError,
  type ColumnSpec,
  type TabStore,
} from './state.js';

/** Google refuses a cell of more than 50,000 characters (the whole request would fail). */
const MAX_CELL_CHARS = 50_000;
/** A quota wait longer than this is handed back to the outbox (retry later) instead of held in write(). */
const MAX_INLINE_QUOTA_WAIT_MS = 30_000;
/** New tabs start with this many rows (as Google creates them), and grids double when full. */
const INITIAL_ROWS = 1000;

export interface GoogleSheetsSinkOptions {
  /** Auth client to use instead of the configured credentials (tests: a static token). */
  auth?: SheetsAuth;
}

interface TabInfo {
  sheetId: number;
  rowCount: number;
  columnCount: number;
  /** Columns whose number format this process has set (or found in place). */
  formatted: number;
}

interface Target {
  title: string;
  startRow: number;
  rows: unknown[][];
  columns: Column[];
}

interface ApiError {
  status: number | undefined;
  message: string;
  retryAfterMs: number | undefined;
  url: string | undefined;
}

export class GoogleSheetsSink implements Sink {
  private api: sheets_v4.Sheets | undefined;
  private auth: SheetsAuth | undefined;
  private store: TabStore | undefined;
  private quota: WriteQuota | undefined;
  private tabs: Map<string, TabInfo> | undefined;
  private stopped: SinkStoppedError | undefined;
  private reachable = true;
  private probeTimer: NodeJS.Timeout | undefined;
  private readonly tab: RenderFn;
  private readonly configured: Column[] | undefined;
  private readonly compiled = new Map<string, Column>();
  private readonly host: { hostname: string; port: number };
  private readonly cellErrors: ComponentCounter;
  private readonly rowsWritten: ComponentCounter;
  private readonly requests: ComponentCounter;

  constructor(
    private readonly config: GoogleSheetsSinkConfig,
    private readonly ctx: ComponentContext,
    private readonly options: GoogleSheetsSinkOptions = {},
  ) {
    this.tab = compileTemplate(config.tab);
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
      'Rows written to Google Sheets (a retried batch counts again).',
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
    const { google } = await import('googleapis');
    this.api = google.sheets({ version: 'v4', auth: this.auth.client, rootUrl: this.config.rootUrl });
    const ttl = this.config.reservationTtl;
    if (this.ctx.redisUrl) {
      const redis = new Redis(this.ctx.redisUrl, { maxRetriesPerRequest: 2, lazyConnect: false });
      redis.on('error', (error: Error) =>
        this.ctx.logger.debug({ err: redact(error.message) }, 'redis connection error'),
      );
      const prefix = `passerelle:google-sheets:${this.config.spreadsheetId}:`;
      this.store = new RedisTabStore(redis, prefix, ttl);
      const account = createHash('sha256').update(this.auth.account).digest('hex').slice(0, 16);
      this.quota = new RedisQuota(redis, `passerelle:google-sheets:quota:${account}`, this.config.quota);
    } else {
      this.store = new MemoryTabStore(ttl);
      this.quota = new MemoryQuota(this.config.quota);
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
    await this.release();
  }

  private async release(): Promise<void> {
    clearInterval(this.probeTimer);
    this.probeTimer = undefined;
    const store = this.store;
    this.store = undefined;
    this.quota = undefined;
    this.api = undefined;
    this.tabs = undefined;
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
    batch.forEach((message, index) => {
      let family: string;
      try {
        family = sanitizeTitle(this.tab(message, { pipeline: this.ctx.pipeline }));
      } catch (error) {
        failures.push({ index, error: new FatalError(`tab template: ${errorMessage(error)}`) });
        return;
      }
      const g = groups.get(family) ?? { messages: [], indices: [] };
      g.messages.push(message);
      g.indices.push(index);
      groups.set(family, g);
    });

    const targets: Target[] = [];
    for (const [family, group] of groups) {
      const columns = await this.columnsFor(family, group.messages, signal);
      const rows: unknown[][] = [];
      const ids: string[] = [];
      group.messages.forEach((message, k) => {
        const { cells, errors } = toRow(columns, message);
        const values = cells.map((c) => this.cellValue(c));
        const long = values.find((v) => typeof v === 'string' && v.length > MAX_CELL_CHARS) as
          string | undefined;
        if (long !== undefined) {
          failures.push({
            index: group.indices[k] ?? 0,
            error: new FatalError(
              `a cell of ${long.length} characters exceeds the ${MAX_CELL_CHARS} characters Google Sheets allows in one cell`,
            ),
          });
          return;
        }
        if (errors.length > 0) {
          this.cellErrors.inc(undefined, errors.length);
          this.ctx.logger.debug({ id: message.id, errors }, 'values left empty');
        }
        rows.push(values);
        ids.push(message.id);
      });
      if (rows.length === 0) continue;
      const cap = this.rowCap(columns.length);
      // Chunks by the configured cap, not the width-dependent one: a retry after the header grew
      // must cut the batch the same way, or its keys (and rows) would change.
      const size = this.config.maxRowsPerTab;
      for (let offset = 0, chunk = 0; offset < rows.length; offset += size, chunk++) {
        const part = rows.slice(offset, offset + size);
        const key = batchKey(family, chunk, ids.slice(offset, offset + size));
        const r = await this.shared(() => this.store!.reserve(family, key, part.length, cap));
        targets.push({ title: partTitle(family, r.part), startRow: r.startRow, rows: part, columns });
      }
    }

    if (targets.length > 0) {
      await this.ensureTabs(targets, signal);
      const data: sheets_v4.Schema$ValueRange[] = [];
      const headers = new Set<string>();
      for (const t of targets) {
        // The header goes with every write: idempotent, and it extends the row when columns were added.
        if (!headers.has(t.title)) {
          headers.add(t.title);
          data.push({
            range: rowsRange(t.title, 1, 1, t.columns.length),
            values: [t.columns.map((c) => this.cellValue(c.header))],
          });
        }
        data.push({ range: rowsRange(t.title, t.startRow, t.rows.length, t.columns.length), values: t.rows });
      }
      await this.takeToken(signal);
      await this.call(
        'write',
        (options) =>
          this.api!.spreadsheets.values.batchUpdate(
            {
              spreadsheetId: this.config.spreadsheetId,
              requestBody: { valueInputOption: this.config.valueInputOption, data },
            },
            options,
          ),
        signal,
      );
      this.rowsWritten.inc(
        undefined,
        targets.reduce((n, t) => n + t.rows.length, 0),
      );
    }
    if (failures.length > 0) throw new BatchError(failures);
  }

  /** The columns of a family: the configured ones, or the shared header extended with new fields. */
  private async columnsFor(family: string, messages: Message[], signal: AbortSignal): Promise<Column[]> {
    const store = this.store!;
    let state = await this.shared(() => store.family(family));
    if (!state) {
      const found = await this.readFamily(family, signal);
      state = await this.shared(() => store.init(family, found));
    }
    if (this.configured) return this.configured;
    const seen = new InferredColumns();
    seen.observe(messages);
    const known = new Set(state.header.map((c) => c.header));
    let header = state.header;
    if (seen.columns.some((c) => !known.has(c.header)))
      header = await this.shared(() =>
        store.extendHeader(
          family,
          seen.columns.map((c) => ({ header: c.header, value: c.value })),
        ),
      );
    return header.map((spec) => this.compile(spec));
  }

  private compile(spec: ColumnSpec): Column {
    const key = `${spec.header}\u0000${spec.value}`;
    let column = this.compiled.get(key);
    if (!column) {
      if (this.compiled.size > 10_000) this.compiled.clear();
      column = compileColumns([spec])[0] as Column;
      this.compiled.set(key, column);
    }
    return column;
  }

  /** Where a family stands in the spreadsheet: its last part, the next free row, the header row. */
  private async readFamily(
    family: string,
    signal: AbortSignal,
  ): Promise<{ part: number; cursor: number; header: ColumnSpec[] }> {
    const tabs = await this.loadTabs(signal);
    let part = 0;
    for (const title of tabs.keys()) part = Math.max(part, partOf(family, title) ?? 0);
    if (part === 0) return { part: 1, cursor: 2, header: [] };
    const res = await this.call(
      'read',
      (options) =>
        this.api!.spreadsheets.values.get(
          {
            spreadsheetId: this.config.spreadsheetId,
            range: quoteTitle(partTitle(family, part)),
            valueRenderOption: 'UNFORMATTED_VALUE',
          },
          options,
        ),
      signal,
    );
    const values = (res.data.values ?? []) as unknown[][];
    const header = (values[0] ?? [])
      .map((h) => String(h ?? ''))
      .filter((h) => h !== '')
      .map((h) => ({ header: h, value: h === 'time' ? 'time' : payloadExpression(h) }));
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
    const previous = this.tabs;
    const tabs = new Map<string, TabInfo>();
    for (const sheet of res.data.sheets ?? []) {
      const p = sheet.properties;
      if (!p?.title || p.sheetId === undefined || p.sheetId === null) continue;
      const columnCount = p.gridProperties?.columnCount ?? 26;
      tabs.set(p.title, {
        sheetId: p.sheetId,
        rowCount: p.gridProperties?.rowCount ?? 1000,
        columnCount,
        formatted: previous?.get(p.title)?.formatted ?? columnCount,
      });
    }
    this.tabs = tabs;
    return tabs;
  }

  /**
   * Creates missing tabs and grows grids so that every target range exists (one structural request
   * for all of them), and sets the number formats of new columns. A tab another replica created in
   * the meantime ("already exists") or a grid it grew is picked up by reading the tabs again.
   */
  private async ensureTabs(targets: Target[], signal: AbortSignal): Promise<void> {
    for (let round = 0; ; round++) {
      const tabs = await this.loadTabs(signal, round > 0);
      const { requests, growing, widths } = this.structuralRequests(targets, tabs);
      const markFormatted = (): void => {
        for (const [title, width] of widths) {
          const info = this.tabs?.get(title);
          if (info) info.formatted = Math.max(info.formatted, width);
        }
      };
      if (requests.length === 0) return markFormatted();
      if (growing && round === 0) continue; // another replica may have grown it already: look first
      await this.takeToken(signal);
      try {
        const res = await this.call(
          'write',
          (options) =>
            this.api!.spreadsheets.batchUpdate(
              { spreadsheetId: this.config.spreadsheetId, requestBody: { requests } },
              options,
            ),
          signal,
        );
        this.applyStructure(requests, res.data.replies ?? []);
        return markFormatted();
      } catch (error) {
        const e = apiError(error);
        if (round < 3 && e.status === 400 && /already exists/i.test(e.message)) continue;
        if (e.status === 400 && /above the limit of \d+ cells/i.test(e.message))
          throw new SinkStoppedError(
            `the spreadsheet ${this.config.spreadsheetId} is full (${e.message}). Point the sink at a new spreadsheet, or delete or shrink old tabs, then restart.`,
          );
        throw error;
      }
    }
  }

  private structuralRequests(
    targets: Target[],
    tabs: Map<string, TabInfo>,
  ): { requests: sheets_v4.Schema$Request[]; growing: boolean; widths: Map<string, number> } {
    const need = new Map<string, { rows: number; columns: Column[] }>();
    for (const t of targets) {
      const n = need.get(t.title);
      const rows = t.startRow + t.rows.length - 1;
      if (!n || rows > n.rows || t.columns.length > n.columns.length)
        need.set(t.title, { rows: Math.max(rows, n?.rows ?? 0), columns: t.columns });
    }
    const requests: sheets_v4.Schema$Request[] = [];
    let growing = false;
    for (const [title, n] of need) {
      const width = Math.max(n.columns.length, 1);
      const maxRows = this.rowCap(width) + 1;
      const info = tabs.get(title);
      if (!info) {
        const sheetId = randomInt(1, 2 ** 31 - 1);
        requests.push({
          addSheet: {
            properties: {
              sheetId,
              title,
              gridProperties: {
                rowCount: Math.min(maxRows, Math.max(n.rows, INITIAL_ROWS)),
                columnCount: width,
                frozenRowCount: 1,
              },
            },
          },
        });
        requests.push(...formatRequests(sheetId, n.columns, 0));
        continue;
      }
      if (n.rows > info.rowCount) {
        growing = true;
        // Doubling keeps the number of grow requests logarithmic; the cap keeps the cell budget.
        const target = Math.min(maxRows, Math.max(n.rows, info.rowCount * 2));
        requests.push({
          appendDimension: {
            sheetId: info.sheetId,
            dimension: 'ROWS',
            length: Math.max(target, n.rows) - info.rowCount,
          },
        });
      }
      if (width > info.columnCount) {
        growing = true;
        requests.push({
          appendDimension: { sheetId: info.sheetId, dimension: 'COLUMNS', length: width - info.columnCount },
        });
      }
      if (n.columns.length > info.formatted)
        requests.push(...formatRequests(info.sheetId, n.columns, info.formatted));
    }
    const widths = new Map([...need].map(([title, n]) => [title, n.columns.length]));
    return { requests, growing, widths };
  }

  private applyStructure(requests: sheets_v4.Schema$Request[], replies: sheets_v4.Schema$Response[]): void {
    const tabs = this.tabs!;
    const byId = new Map([...tabs.values()].map((t) => [t.sheetId, t]));
    requests.forEach((r, i) => {
      if (r.addSheet) {
        const p = replies[i]?.addSheet?.properties ?? r.addSheet.properties;
        if (!p?.title || p.sheetId === undefined || p.sheetId === null) return;
        const info: TabInfo = {
          sheetId: p.sheetId,
          rowCount: p.gridProperties?.rowCount ?? INITIAL_ROWS,
          columnCount: p.gridProperties?.columnCount ?? 26,
          formatted: 0,
        };
        tabs.set(p.title, info);
        byId.set(info.sheetId, info);
      } else if (r.appendDimension) {
        const info = byId.get(r.appendDimension.sheetId ?? -1);
        if (!info) return;
        if (r.appendDimension.dimension === 'ROWS') info.rowCount += r.appendDimension.length ?? 0;
        else info.columnCount += r.appendDimension.length ?? 0;
      }
    });
  }

  private cellValue(cell: CellValue): unknown {
    if (cell === null) return '';
    if (cell instanceof Date) return toSerial(cell);
    if (typeof cell === 'string' && this.config.valueInputOption === 'USER_ENTERED')
      return escapeFormula(cell);
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
      case e.status === 400 && /exceeds grid limits|Unable to parse range/i.test(e.message):
        // A tab deleted or shrunk by hand: read the tabs again and retry.
        this.tabs = undefined;
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

function formatRequests(sheetId: number, columns: Column[], from: number): sheets_v4.Schema$Request[] {
  const out: sheets_v4.Schema$Request[] = [];
  columns.forEach((c, i) => {
    if (i < from || !c.format) return;
    out.push({
      repeatCell: {
        range: { sheetId, startRowIndex: 1, startColumnIndex: i, endColumnIndex: i + 1 },
        cell: {
          userEnteredFormat: {
            numberFormat: { type: c.type === 'datetime' ? 'DATE_TIME' : 'NUMBER', pattern: c.format },
          },
        },
        fields: 'userEnteredFormat.numberFormat',
      },
    });
  });
  return out;
}

/** The key a batch's rows are reserved under: the same messages give the same key. */
function batchKey(family: string, chunk: number, ids: string[]): string {
  const h = createHash('sha256');
  h.update(family);
  h.update(`\u0000${chunk}`);
  for (const id of ids) h.update(`\u0000${id}`);
  return h.digest('base64url');
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
