import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../src/sdk/index.js';
import type { Column } from '../../src/sdk/columns.js';
import { JournalCorruptError, replayJournal, type JournalColumn, type JournalState } from './journal.js';
import { columnRecord, type Journal } from './open-file.js';

export interface ReadJournalsOptions {
  stateDir: string;
  now: () => number;
  logger: Logger;
  /** Whether a run is still going (begun, not ended): the journals of other runs are discarded. */
  runGoing(id: string): boolean;
  maxRowsPerFile: number | undefined;
  configuredColumns: Column[] | undefined;
}

export interface JournalsOnDisk {
  /** Journals of period files, in name order: reopened for more rows, or finished (`reopen` false). */
  periods: (Journal & { reopen: boolean })[];
  /** Journals of the runs still going. */
  runs: Journal[];
}

/**
 * Replays the journals left in `.passerelle-excel` (by a crash, a repair, a lease change): leftover
 * temporary files go, an unreadable journal is set aside, an empty one or one of a run that did not
 * end is removed; a period file whose period ended, that is full, whose columns changed in the
 * configuration, or that is not the last part of its name, is to be finished, the others reopened.
 */
export async function readJournals(options: ReadJournalsOptions): Promise<JournalsOnDisk> {
  const { stateDir, logger } = options;
  const now = options.now();
  const entries = await readdir(stateDir);
  for (const name of entries) if (name.endsWith('.tmp')) await rm(join(stateDir, name), { force: true });
  const periods: Journal[] = [];
  const runs: Journal[] = [];
  for (const name of entries.filter((n) => n.endsWith('.journal')).sort()) {
    const path = join(stateDir, name);
    let state: JournalState | undefined;
    try {
      state = await replayJournal(path);
    } catch (error) {
      if (!(error instanceof JournalCorruptError)) throw error;
      // Not ours to guess at: set aside for a human, and keep the sink running.
      const aside = `${path}.corrupt-${options.now()}`;
      await rename(path, aside);
      logger.error({ journal: aside, err: error.message }, 'excel: unreadable journal set aside');
      continue;
    }
    if (!state) {
      await rm(path, { force: true });
      continue;
    }
    const run = state.header.run;
    if (run && !options.runGoing(run.id)) {
      // The journal of a run that did not end: the run is incomplete, and its rerun starts over.
      await rm(path, { force: true });
      logger.info({ file: state.header.file, run: run.id }, 'excel: unfinished run discarded');
      continue;
    }
    (run ? runs : periods).push({ state, path });
  }
  // Per base name only the highest part stays open; the others are done.
  const latest = latestParts(periods);
  return {
    periods: periods.map(({ state, path }) => {
      const over = state.header.periodEnd !== null && state.header.periodEnd <= now;
      const full = options.maxRowsPerFile !== undefined && state.rows >= options.maxRowsPerFile;
      // Columns changed in the configuration: the file is finished as it is, the new rows start the next part.
      const changed = !columnsMatch(state.columns, options.configuredColumns);
      const reopen = !over && !full && !changed && latest.get(state.header.base) === state;
      return { state, path, reopen };
    }),
    runs,
  };
}

/** The journal of the highest part of each base name. */
export function latestParts(journals: Journal[]): Map<string, JournalState> {
  const latest = new Map<string, JournalState>();
  for (const { state } of journals) {
    const seen = latest.get(state.header.base);
    if (!seen || seen.header.part < state.header.part) latest.set(state.header.base, state);
  }
  return latest;
}

/** Whether a journal's columns are those this configuration would write. */
function columnsMatch(columns: JournalColumn[], configured: Column[] | undefined): boolean {
  if (columns.length === 0) return true;
  if (configured) return JSON.stringify(columns) === JSON.stringify(configured.map(columnRecord));
  // Inferred: `time` first, then payload fields without type or format.
  const [first, ...rest] = columns;
  return (
    first?.header === 'time' &&
    first.value === 'time' &&
    rest.every((c) => c.value.startsWith('payload') && c.type === undefined && c.format === undefined)
  );
}
