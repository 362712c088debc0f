import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  errorMessage,
  NotConnectedError,
  SerialQueue,
  type ComponentCounter,
  type Logger,
} from '../../src/sdk/index.js';
import type { JournalState } from './journal.js';
import { copyState, type Journal, type OpenFile } from './open-file.js';
import type { OwnFiles } from './own-files.js';
import { manifestRun, type RunHeader } from './run-output.js';
import type { ExcelSinkConfig } from './spec.js';
import { buildWorkbook, syncDirectory, writeFileAtomic, type BuiltWorkbook } from './workbook.js';

/** Longest wait between two attempts to write a workbook that failed. */
const MAX_BUILD_RETRY_MS = 60_000;

export interface BuildsOptions {
  config: ExcelSinkConfig;
  directory: string;
  stateDir: string;
  now: () => number;
  logger: Logger;
  ownFiles: OwnFiles;
  counters: { builds: ComponentCounter; buildErrors: ComponentCounter };
  /** Throws NotConnectedError when another replica writes the folder now. */
  checkFence(): Promise<void>;
  /** The files being written: rebuilt when their journal grew. */
  openFiles(): Iterable<OpenFile>;
  /** Runs `task` between two appends (the sink's write queue). */
  betweenAppends<T>(task: () => Promise<T>): Promise<T>;
  /** A build refused for the whole folder (the lease is lost): the sink stops writing. */
  onRefused(error: unknown): void;
}

/** A workbook whose last build failed: when to try again, and how often it failed in a row. */
interface BuildRetry {
  at: number;
  failures: number;
}

/**
 * Workbook builds, one at a time in the background: the final builds of closed files (then their
 * journal goes) and the rebuilds of open files whose journal grew. A file whose build fails is
 * retried with a growing delay while the others go on (README: "A file that can not be written").
 */
export class Builds {
  /** Files whose period (or row budget) is over, waiting for their final build. */
  readonly closing: Journal[] = [];
  private readonly queue = new SerialQueue();
  private readonly retries = new Map<string, BuildRetry>(); // by file name
  private passQueued = false;
  private lastErrorLog = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: BuildsOptions) {}

  /** No more rows for this file: it gets its final build, then its journal goes. */
  finishLater(journal: Journal): void {
    this.closing.push(journal);
    this.schedule();
  }

  /**
   * Queues the final builds of closed files and the rebuilds of open files that changed. A file
   * whose last build failed waits for its retry time, unless `now` (flush, close).
   */
  schedule(now = false): void {
    // One pass waiting is enough: it sees every change made before it starts. Without this guard,
    // builds slower than `flushEvery` would pile up.
    if (this.passQueued) return;
    this.passQueued = true;
    this.queue
      .run(async () => {
        this.passQueued = false;
        await this.pass(now);
      })
      .catch((error: unknown) => this.options.onRefused(error));
  }

  /** Resolves once every build queued so far is done. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private async pass(now: boolean): Promise<void> {
    // A file that can not be written (held open, immutable) waits for its next attempt; the
    // others go on.
    for (const closed of [...this.closing]) {
      if (!now && !this.due(closed.state.header.file)) continue;
      try {
        await this.finish(closed);
        this.succeeded(closed.state.header.file);
        const at = this.closing.indexOf(closed);
        if (at >= 0) this.closing.splice(at, 1);
      } catch (error) {
        this.failed(closed.state.header.file, error);
      }
    }
    for (const file of [...this.options.openFiles()]) {
      if (file.run) continue; // a run's file appears only complete, at the run's end
      if (file.builtLength === file.writer.length) continue;
      if (!now && !this.due(file.state.header.file)) continue;
      // Taken between two appends, so the copy matches the journal up to `length` exactly.
      const snap = await this.options.betweenAppends(async () => ({
        state: copyState(file.state),
        length: file.writer.length,
      }));
      try {
        await this.build(snap.state, file.writer.path, snap.length, false);
        file.builtLength = snap.length;
        this.succeeded(file.state.header.file);
      } catch (error) {
        this.failed(file.state.header.file, error);
      }
    }
  }

  private due(file: string): boolean {
    const retry = this.retries.get(file);
    return !retry || retry.at <= this.options.now();
  }

  private succeeded(file: string): void {
    if (!this.retries.delete(file)) return;
    this.options.logger.info({ file }, 'excel: workbook written again');
  }

  /**
   * A build that failed is about that one file (held open, immutable, the build's own space): it
   * is retried with a growing delay while the others go on. Rows stay safe in its journal. Only a
   * lost lease stops the sink.
   */
  private failed(file: string, error: unknown): void {
    this.options.counters.buildErrors.inc();
    if (error instanceof NotConnectedError) {
      this.options.onRefused(error);
      return;
    }
    const failures = (this.retries.get(file)?.failures ?? 0) + 1;
    const delay = Math.min(MAX_BUILD_RETRY_MS, 1000 * 2 ** (failures - 1));
    this.retries.set(file, { at: this.options.now() + delay, failures });
    // Reported at a file's first failure, then about once a minute while it lasts; and at most
    // every 10 s for the whole sink (hundreds of files can fail for the same reason).
    const now = Date.now();
    const log = (failures === 1 || delay === MAX_BUILD_RETRY_MS) && now - this.lastErrorLog >= 10_000;
    if (log) this.lastErrorLog = now;
    this.options.logger[log ? 'error' : 'debug'](
      { file, err: errorMessage(error), failures, retryInMs: delay },
      'excel: could not write the workbook; retrying',
    );
  }

  /** The final build of a closed file, then its journal is removed. */
  private async finish({ state, path }: Journal): Promise<void> {
    await this.build(state, path, state.length, true);
    await rm(path, { force: true });
    await syncDirectory(this.options.stateDir);
    this.options.logger.info({ file: state.header.file, rows: state.rows }, 'excel: file finished');
  }

  /** Writes the workbook of `state` from its journal up to `length`, atomically (and its manifest). */
  async build(state: JournalState, journalPath: string, length: number, final: boolean): Promise<void> {
    const { config, directory, stateDir, logger } = this.options;
    await this.options.checkFence();
    const target = join(directory, state.header.file);
    const started = Date.now();
    logger.debug({ file: state.header.file, final }, 'excel: writing workbook');
    const built = await buildWorkbook(
      {
        journalPath,
        journalLength: length,
        columns: state.columns,
        sheets: state.sheets,
        widths: state.widths,
        timeZone: config.timeZone,
        compressionLevel: config.compressionLevel,
      },
      target,
      join(stateDir, `${state.header.file}.${process.pid}.tmp`),
      // Recorded before the file first appears: retention only ever deletes files it recorded.
      () => this.options.ownFiles.add(state.header.file),
    );
    if (config.manifest) await this.writeManifest(target, built, final, state.header.run);
    this.options.counters.builds.inc({ final: String(final) });
    logger.debug(
      { file: state.header.file, bytes: built.bytes, ms: Date.now() - started, final },
      'excel: workbook written',
    );
  }

  private async writeManifest(
    target: string,
    built: BuiltWorkbook,
    final: boolean,
    run: RunHeader | undefined,
  ): Promise<void> {
    const manifest = {
      file: target.slice(this.options.directory.length + 1),
      ...(run ? { run: manifestRun(run) } : {}),
      sha256: built.sha256,
      bytes: built.bytes,
      rows: built.sheets.reduce((n, s) => n + s.rows, 0),
      sheets: built.sheets,
      final,
      writtenAt: new Date(this.options.now()).toISOString(),
    };
    await writeFileAtomic(`${target}.manifest.json`, `${JSON.stringify(manifest, null, 2)}\n`);
  }
}
