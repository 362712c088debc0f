import { randomInt } from 'node:crypto';
import type { sheets_v4 } from '@googleapis/sheets';
import { apiError, type SheetsApi } from './api.js';
import { columnLetters, partOf, partTitle, quoteTitle } from './a1.js';
import { rowCap } from './chunks.js';
import type { RowLayout } from './rows.js';
import { RUNS_RANGE, RUNS_TAB } from './run-output.js';
import type { GoogleSheetsSinkConfig } from './spec.js';
import type { ColumnSpec, FamilyInit } from './state.js';

/** New tabs start with this many rows, as Google creates them, and at most this many cells. */
const INITIAL_ROWS = 1000;
const INITIAL_CELLS = 1_000_000;

export interface TabInfo {
  sheetId: number;
  columnCount: number;
}

/** Structural requests for a write, and the tabs they add (known once Google confirmed them). */
export interface Structure {
  requests: sheets_v4.Schema$Request[];
  added: Map<string, TabInfo>;
}

/**
 * The spreadsheet's tabs as this sink last read them, and the header cells it knows are in row 1
 * of each (written or read): what a write must add first (tabs, columns, header cells).
 */
export class Tabs {
  private known: Map<string, TabInfo> | undefined;
  private readonly headerWritten = new Map<string, number>();

  constructor(
    private readonly api: SheetsApi,
    private readonly layout: RowLayout,
    private readonly config: Pick<GoogleSheetsSinkConfig, 'batchIdColumn' | 'maxRowsPerTab'>,
  ) {}

  /** Someone else changed the tabs: read them again before the next write. */
  forget(): void {
    this.known = undefined;
    this.headerWritten.clear();
  }

  async load(signal: AbortSignal, refresh = false): Promise<Map<string, TabInfo>> {
    if (this.known && !refresh) return this.known;
    const tabs = new Map<string, TabInfo>();
    for (const sheet of await this.sheets('sheets.properties', signal)) {
      const p = sheet.properties;
      if (!p?.title || p.sheetId === undefined || p.sheetId === null) continue;
      tabs.set(p.title, { sheetId: p.sheetId, columnCount: p.gridProperties?.columnCount ?? 26 });
    }
    this.known = tabs;
    return tabs;
  }

  /** Every tab with its properties and developer metadata. */
  describe(signal: AbortSignal): Promise<sheets_v4.Schema$Sheet[]> {
    return this.sheets('sheets(properties,developerMetadata)', signal);
  }

  /** The rows of the `_runs` tab, if the spreadsheet has one. */
  async runsLog(
    sheets: sheets_v4.Schema$Sheet[],
    signal: AbortSignal,
  ): Promise<{ sheetId: number; rows: unknown[][] } | undefined> {
    const runsSheet = sheets.find((s) => s.properties?.title === RUNS_TAB)?.properties;
    if (runsSheet?.sheetId === undefined || runsSheet.sheetId === null) return undefined;
    const values = await this.values(RUNS_RANGE, signal);
    return { sheetId: runsSheet.sheetId, rows: values };
  }

  /** One structural write (tabs renamed, deleted): the tabs are read again after it. */
  async restructure(requests: sheets_v4.Schema$Request[], signal: AbortSignal): Promise<void> {
    let sent = false;
    try {
      await this.api.batchUpdate(requests, signal, () => {
        sent = true;
      });
    } finally {
      if (sent) this.forget();
    }
  }

  /** Where a family stands in the spreadsheet: its last part, its rows, the header row. */
  async readFamily(family: string, signal: AbortSignal): Promise<FamilyInit> {
    const tabs = await this.load(signal);
    let part = 0;
    for (const title of tabs.keys()) part = Math.max(part, partOf(family, title) ?? 0);
    if (part === 0) return { part: 1, cursor: 2, header: [] };
    const title = partTitle(family, part);
    const values = await this.values(quoteTitle(title), signal);
    const cells = (values[0] ?? []).map((h) => String(h ?? ''));
    this.headerWritten.set(title, cells.length);
    return { part, cursor: Math.max(2, values.length + 1), header: this.layout.headerOf(cells) };
  }

  /** Whether a chunk's batch id is in its tab: it was applied, only its answer was lost. */
  async hasBatch(
    chunk: { title: string; header: ColumnSpec[]; key: string },
    signal: AbortSignal,
  ): Promise<boolean> {
    const at = chunk.header.findIndex((c) => c.header === this.config.batchIdColumn);
    if (at < 0) return false;
    const letter = columnLetters(at + 1);
    try {
      const values = await this.values(`${quoteTitle(chunk.title)}!${letter}:${letter}`, signal);
      return values.some((row) => row[0] === chunk.key);
    } catch (error) {
      const e = apiError(error);
      // The tab is gone (deleted by hand): the chunk is not in the spreadsheet.
      if (e.status === 400 && /Unable to parse range/i.test(e.message)) return false;
      throw error;
    }
  }

  /**
   * The structural requests the tabs need: missing tabs (with a frozen header row), columns for
   * a grown header, and the header cells this sink has not seen in row 1 (only ever to the right
   * of those it has seen).
   */
  structure(wanted: { title: string; header: ColumnSpec[] }[], tabs: Map<string, TabInfo>): Structure {
    const widest = new Map<string, ColumnSpec[]>();
    for (const c of wanted)
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
                  Math.min(
                    INITIAL_ROWS,
                    rowCap(this.config.maxRowsPerTab, width) + 1,
                    Math.floor(INITIAL_CELLS / width),
                  ),
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
  applied({ requests, added }: Structure): void {
    const tabs = this.known!;
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

  /** The spreadsheet's tabs, with the given fields. */
  private async sheets(fields: string, signal: AbortSignal): Promise<sheets_v4.Schema$Sheet[]> {
    const res = await this.api.read(
      (sheets, options) =>
        sheets.spreadsheets.get({ spreadsheetId: this.api.spreadsheetId, fields }, options),
      signal,
    );
    return res.data.sheets ?? [];
  }

  /** The unformatted values of a range. */
  private async values(range: string, signal: AbortSignal): Promise<unknown[][]> {
    const res = await this.api.read(
      (sheets, options) =>
        sheets.spreadsheets.values.get(
          { spreadsheetId: this.api.spreadsheetId, range, valueRenderOption: 'UNFORMATTED_VALUE' },
          options,
        ),
      signal,
    );
    return (res.data.values ?? []) as unknown[][];
  }
}
