import { createHash, randomBytes } from 'node:crypto';
import type { sheets_v4 } from '@googleapis/sheets';
import {
  compileTemplate,
  FatalError,
  type BatchFailure,
  formatDate,
  RUN_META_KEY,
  type Message,
  type RenderFn,
  type Run,
  type RunOutput,
  type RunWindow,
} from '../../src/sdk/index.js';
import { localWallClock, partOf, partTitle, quoteTitle, sanitizeTitle } from './a1.js';

/*
 * `rotate: run` (docs/scheduling.md): one tab per run of a scheduled pipeline, named from the `tab`
 * template with the run's window. The run's rows are appended to a staging tab of this attempt
 * (`~run <run hash> <attempt>`, with the usual batch ids, so a retried batch is not appended twice);
 * at endRun one atomic batchUpdate renames it to its name, tags it with the run id (developer
 * metadata), deletes the tab of an earlier attempt of the same run, and records the run in the
 * `_runs` tab. A rerun first deletes the staging tabs of earlier attempts. So a run's tab appears
 * complete, and a rerun replaces it: never a second tab, never rows twice.
 */

/** Developer metadata key that marks a tab as the output of a run (value: the run id). */
export const RUN_METADATA_KEY = 'passerelle.run';
/** The tab listing the runs written (one row per run, updated by a rerun). */
export const RUNS_TAB = '_runs';
export const RUNS_HEADER = ['run', 'window start', 'window end', 'tabs', 'rows', 'completed at'];
const STAGING = '~run ';

/** A message outside a run with `rotate: run`, or a run not begun. */
export class RunRequiredError extends FatalError {}

export interface ActiveRun {
  run: Run;
  /** Names this attempt's staging tabs; differs from every earlier attempt's. */
  attempt: string;
  /** Tab family from the template -> staging family. */
  staging: Map<string, string>;
  /** Rows written, per chunk (batch id; message id without `rotate: run`): counted once. */
  chunks: Map<string, number>;
  /** Tabs written (without `rotate: run`: the run's rows go to the usual tabs). */
  targets: Set<string>;
  render: RenderFn;
}

/** The prefix of every staging tab of a run (all attempts). */
export function stagingPrefix(runId: string): string {
  return `${STAGING}${createHash('sha256').update(runId).digest('base64url').slice(0, 10)} `;
}

/** `{{ window.start:F }}` is `{{ date:F }}` (the message time is the window's start); `window.end` is filled in. */
export function runTemplate(template: string, window: RunWindow, timeZone: string): RenderFn {
  return compileTemplate(
    template
      .replace(/\{\{\s*window\.start:([^}]*?)\s*\}\}/g, '{{ date:$1 }}')
      .replace(/\{\{\s*window\.end:([^}]*?)\s*\}\}/g, (_all, format: string) =>
        formatDate(localWallClock(window.end, timeZone), format),
      ),
  );
}

export function beginRun(run: Run, template: string, timeZone: string): ActiveRun {
  return {
    run,
    attempt: randomBytes(4).toString('base64url'),
    staging: new Map(),
    chunks: new Map(),
    targets: new Set(),
    render: runTemplate(template, run.window, timeZone),
  };
}

/** The run of a message (`meta.run`), or a RunRequiredError that says why it can not be written. */
export function runOfMessage(message: Message, runs: Map<string, ActiveRun>): ActiveRun {
  const tag = message.meta[RUN_META_KEY] as { id?: unknown } | undefined;
  if (!tag || typeof tag.id !== 'string')
    throw new RunRequiredError(
      `message ${message.id} is not part of a run: \`rotate: run\` writes one tab per run of a scheduled pipeline (add \`schedule\` to the pipeline, or remove rotate)`,
    );
  const active = runs.get(tag.id);
  if (!active)
    throw new RunRequiredError(
      `message ${message.id} belongs to run ${tag.id}, which was not begun or has ended`,
    );
  return active;
}

/**
 * Counts what a write did for the runs begun (for endRun): with `rotate: run` its chunks in their
 * staging tabs, otherwise its messages and the tabs (`familyOf`) they went to.
 */
export function recordRunRows(
  runs: Map<string, ActiveRun>,
  perRun: boolean,
  written: {
    batch: Message[];
    chunks: { family: string; title: string; key: string; rows: unknown[] }[];
    failures: BatchFailure[];
  },
  familyOf: (message: Message) => string,
): void {
  const { batch, chunks, failures } = written;
  if (perRun) {
    const byStaging = new Map<string, ActiveRun>();
    for (const active of runs.values())
      for (const staging of active.staging.values()) byStaging.set(staging, active);
    for (const c of chunks) byStaging.get(c.family)?.chunks.set(c.key, c.rows.length);
    return;
  }
  const failed = new Set(failures.map((f) => f.index));
  const titles = new Map(chunks.map((c) => [c.family, c.title]));
  batch.forEach((message, index) => {
    const id = (message.meta[RUN_META_KEY] as { id?: unknown } | undefined)?.id;
    const active = typeof id === 'string' ? runs.get(id) : undefined;
    if (!active || failed.has(index)) return;
    active.chunks.set(message.id, 1);
    const title = titles.get(familyOf(message));
    if (title) active.targets.add(title);
  });
}

/** The tab family of a run's message (the window's start as its time), and its staging family. */
export function stagingFamily(
  active: ActiveRun,
  message: Message,
  pipeline: string,
  timeZone: string,
): string {
  const family = sanitizeTitle(
    active.render({ ...message, time: localWallClock(active.run.window.start, timeZone) }, { pipeline }),
  );
  let staging = active.staging.get(family);
  if (!staging) {
    staging = `${stagingPrefix(active.run.id)}${active.attempt} ${active.staging.size + 1}`;
    active.staging.set(family, staging);
  }
  return staging;
}

/** The staging tabs of earlier attempts of the run: deleted when it begins again. */
export function discardRequests(sheets: sheets_v4.Schema$Sheet[], runId: string): sheets_v4.Schema$Request[] {
  const prefix = stagingPrefix(runId);
  return sheets
    .filter((s) => s.properties?.title?.startsWith(prefix))
    .map((s) => ({ deleteSheet: { sheetId: s.properties!.sheetId! } }));
}

function runOf(sheet: sheets_v4.Schema$Sheet): string | undefined {
  return sheet.developerMetadata?.find((m) => m.metadataKey === RUN_METADATA_KEY)?.metadataValue ?? undefined;
}

/**
 * The one request that completes a run: staging tabs renamed to their names and tagged with the run,
 * the tabs of an earlier attempt of the same run deleted, and the run's row in `_runs` written.
 * Throws a FatalError when a tab of that name holds another run, or was not written by a run.
 */
export function endRunRequests(
  active: ActiveRun,
  sheets: sheets_v4.Schema$Sheet[],
  runsTab: { sheetId: number; rows: unknown[][] } | undefined,
  now: number,
  newSheetId: () => number,
): { requests: sheets_v4.Schema$Request[]; output: RunOutput } {
  const run = active.run;
  const byTitle = new Map(sheets.map((s) => [s.properties?.title ?? '', s]));
  const requests: sheets_v4.Schema$Request[] = [];
  const targets: string[] = [];
  const kept = new Set<number>();
  for (const [family, staging] of active.staging) {
    const parts = sheets
      .map((s) => ({ s, part: partOf(staging, s.properties?.title ?? '') }))
      .filter((p): p is { s: sheets_v4.Schema$Sheet; part: number } => p.part !== undefined)
      .sort((a, b) => a.part - b.part);
    for (const { s, part } of parts) {
      const title = partTitle(family, part);
      const existing = byTitle.get(title);
      if (existing) {
        const holder = runOf(existing);
        if (holder !== run.id)
          throw new FatalError(
            holder
              ? `tab "${title}" holds run ${holder}, and run ${run.id} would replace it: put the window in the tab name (tab: '{{ window.start:YYYY-MM-DD HH:mm }}')`
              : `tab "${title}" already exists and was not written by a run of this pipeline: it is not replaced (rename it, or change tab)`,
          );
        requests.push({ deleteSheet: { sheetId: existing.properties!.sheetId! } });
      }
      const sheetId = s.properties!.sheetId!;
      kept.add(sheetId);
      requests.push(
        { updateSheetProperties: { properties: { sheetId, title }, fields: 'title' } },
        {
          createDeveloperMetadata: {
            developerMetadata: {
              metadataKey: RUN_METADATA_KEY,
              metadataValue: run.id,
              location: { sheetId },
              visibility: 'DOCUMENT',
            },
          },
        },
      );
      targets.push(title);
    }
  }
  // Tabs of an earlier complete attempt that this one does not write again (fewer parts).
  const replaced = new Set(requests.flatMap((r) => (r.deleteSheet ? [r.deleteSheet.sheetId] : [])));
  for (const s of sheets) {
    const id = s.properties?.sheetId ?? -1;
    if (runOf(s) === run.id && !kept.has(id) && !replaced.has(id))
      requests.push({ deleteSheet: { sheetId: id } });
  }
  let rows = 0;
  for (const n of active.chunks.values()) rows += n;
  const record = [
    run.id,
    new Date(run.window.start).toISOString(),
    new Date(run.window.end).toISOString(),
    targets.join(', '),
    rows,
    new Date(now).toISOString(),
  ];
  const cells = (values: (string | number)[]): sheets_v4.Schema$RowData => ({
    values: values.map((v) => ({
      userEnteredValue: typeof v === 'number' ? { numberValue: v } : { stringValue: v },
    })),
  });
  if (!runsTab) {
    const sheetId = newSheetId();
    requests.push(
      {
        addSheet: {
          properties: {
            sheetId,
            title: RUNS_TAB,
            gridProperties: { rowCount: 2, columnCount: RUNS_HEADER.length, frozenRowCount: 1 },
          },
        },
      },
      {
        updateCells: {
          start: { sheetId, rowIndex: 0, columnIndex: 0 },
          rows: [cells(RUNS_HEADER)],
          fields: 'userEnteredValue',
        },
      },
      {
        updateCells: {
          start: { sheetId, rowIndex: 1, columnIndex: 0 },
          rows: [cells(record)],
          fields: 'userEnteredValue',
        },
      },
    );
  } else {
    const at = runsTab.rows.findIndex((r, i) => i > 0 && r[0] === run.id);
    requests.push(
      at > 0
        ? {
            updateCells: {
              start: { sheetId: runsTab.sheetId, rowIndex: at, columnIndex: 0 },
              rows: [cells(record)],
              fields: 'userEnteredValue',
            },
          }
        : { appendCells: { sheetId: runsTab.sheetId, rows: [cells(record)], fields: 'userEnteredValue' } },
    );
  }
  return { requests, output: { targets, rows } };
}

/** The range that reads the `_runs` tab. */
export const RUNS_RANGE = quoteTitle(RUNS_TAB);
