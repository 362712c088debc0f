import { createReadStream } from 'node:fs';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  FatalError,
  formatDate,
  RUN_META_KEY,
  type Message,
  type Run,
  type RunWindow,
} from '../../src/sdk/index.js';
import type { JournalHeader, JournalState, JournalWriter } from './journal.js';
import { localWallClock } from './period.js';
import { writeFileAtomic } from './workbook.js';

/*
 * `rotate: run` (docs/scheduling.md): one file per run of a scheduled pipeline, named from the run's
 * window. The run's rows go to journals like any others, but its files are built only at endRun,
 * into a temporary file renamed into place: the file appears complete or not at all. A rerun of the
 * same run id (after a failure, a crash, on another replica) discards the journals of the earlier
 * attempt and replaces its files.
 */

/** What a run's journal says about its run (in its header line). */
export interface RunHeader {
  id: string;
  start: number;
  end: number;
}

/** `rotate: run` needs the run of every message: written outside a scheduled pipeline, it fails. */
export class RunRequiredError extends FatalError {}

/** Two runs would write the same file: the second fails rather than replace the first. */
export class RunCollisionError extends FatalError {}

/** The run a message belongs to (`meta.run`, set by the engine for every message of a run). */
export function runOf(message: Message): { id: string; window: RunWindow } | undefined {
  const run = message.meta[RUN_META_KEY] as { id?: unknown; window?: RunWindow } | undefined;
  if (!run || typeof run.id !== 'string' || !run.window) return undefined;
  return { id: run.id, window: run.window };
}

export function runRequired(message: Message): RunRequiredError {
  return new RunRequiredError(
    `excel: message ${message.id} is not part of a run: \`rotate: run\` writes one file per run of a scheduled pipeline (add \`schedule\` to the pipeline, or use rotate: hour/day/week/month/none)`,
  );
}

/**
 * Renders `{{ window.start:FORMAT }}` and `{{ window.end:FORMAT }}` (the run's window in the time
 * zone; the end is exclusive: a daily window ends at midnight of the next day). `window.start:` is
 * the same as `date:` with `rotate: run`. Returns the template with `window.end` parts filled in
 * and `window.start` parts turned into `date:` parts, for the usual template engine.
 */
export function windowParts(template: string, period: { end: number }, timeZone: string): string {
  return template
    .replace(/\{\{\s*window\.start:([^}]*?)\s*\}\}/g, '{{date:$1}}')
    .replace(/\{\{\s*window\.end:([^}]*?)\s*\}\}/g, (_all, format: string) =>
      Number.isFinite(period.end) ? formatDate(localWallClock(period.end, timeZone), format) : '',
    );
}

/** The header of a journal (its first line), or undefined when it has none yet. */
export async function readJournalHeader(path: string): Promise<JournalHeader | undefined> {
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  try {
    for await (const line of lines) return JSON.parse(line) as JournalHeader;
  } catch {
    return undefined;
  } finally {
    lines.close();
  }
  return undefined;
}

/** Removes the journals (in `stateDir`) of every earlier attempt of `runId`; returns their files. */
export async function discardRunJournals(stateDir: string, runId: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await readdir(stateDir)) {
    if (!name.endsWith('.journal')) continue;
    const header = await readJournalHeader(join(stateDir, name));
    if (header?.run?.id !== runId) continue;
    await rm(join(stateDir, name), { force: true });
    removed.push(header.file);
  }
  return removed;
}

/**
 * Which run each run file holds (`.passerelle-excel/runs.json`, written before a file is renamed
 * into place): a rerun replaces its own files, a different run with the same file name is refused,
 * and a file in the folder that no run of this sink wrote is never overwritten.
 */
export class RunRecord {
  private readonly path: string;
  private files = new Map<string, string>();

  constructor(stateDir: string) {
    this.path = join(stateDir, 'runs.json');
  }

  async load(): Promise<void> {
    const text = await readFile(this.path, 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '{}';
      throw error;
    });
    this.files = new Map(Object.entries(JSON.parse(text) as Record<string, string>));
  }

  holder(file: string): string | undefined {
    return this.files.get(file);
  }

  filesOf(runId: string): string[] {
    return [...this.files].filter(([, id]) => id === runId).map(([file]) => file);
  }

  async set(entries: { file: string; run: string }[], forget: string[] = []): Promise<void> {
    for (const f of forget) this.files.delete(f);
    for (const e of entries) this.files.set(e.file, e.run);
    await this.save();
  }

  async forget(files: readonly string[]): Promise<void> {
    let changed = false;
    for (const f of files) changed = this.files.delete(f) || changed;
    if (changed) await this.save();
  }

  private async save(): Promise<void> {
    await writeFileAtomic(this.path, `${JSON.stringify(Object.fromEntries(this.files))}\n`);
  }
}

/** A run being written: its files (every part), by file name. */
export interface ActiveRun {
  run: RunHeader;
  parts: Map<string, { state: JournalState; path: string; writer?: JournalWriter }>;
  /** Rows written for the run with a period rotation (rotate is not `run`), and their files. */
  rows: number;
  targets: Set<string>;
}

export function runHeader(run: Pick<Run, 'id' | 'window'>): RunHeader {
  return { id: run.id, start: run.window.start, end: run.window.end };
}

/** The manifest's description of a run. */
export function manifestRun(run: RunHeader): { id: string; window: { start: string; end: string } } {
  return {
    id: run.id,
    window: { start: new Date(run.start).toISOString(), end: new Date(run.end).toISOString() },
  };
}

/** A message standing for an empty run (no rows): only its window names the file. */
export function emptyRunMessage(run: RunHeader): Message {
  return {
    id: `${run.id}#empty`,
    payload: {},
    meta: { [RUN_META_KEY]: { id: run.id, window: { start: run.start, end: run.end } } },
    time: run.start,
  };
}
