import { readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  BatchError,
  compileTemplate,
  errorMessage,
  FatalError,
  SerialQueue,
  NotConnectedError,
  PasserelleError,
  RetryableError,
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
import {
  ColumnPathError,
  compileColumns,
  InferredColumns,
  toRow,
  type CellValue,
  type Column,
} from '../../src/sdk/columns.js';
import { type LeasedWriter } from '../../src/sdk/leased-writer.js';
import {
  encodeCell,
  JournalHandles,
  JournalSpaceError,
  JournalWriter,
  JOURNAL_VERSION,
  MAX_CELL_TEXT,
  newState,
  observeWidths,
  rememberBatch,
  type JournalSheet,
  type JournalState,
} from './journal.js';
import { SheetNames, xmlSafe } from './naming.js';
import { compileFileName, partName, periodOf, type FileNamer, type Period } from './period.js';
import type { ExcelSinkConfig } from './spec.js';
import { loadExcelJs, syncDirectory } from './workbook.js';
import { Builds } from './builds.js';
import { FolderHealth } from './folder-health.js';
import { columnRecord, type Journal, type OpenFile } from './open-file.js';
import { latestParts, readJournals } from './recovery.js';
import { batchIdOf, DeliveredBatches } from './redelivery.js';
import { Retention } from './retention.js';
import { folderLease } from './folder-lease.js';
import { OwnFiles } from './own-files.js';
import {
  discardRunJournals,
  emptyRunMessage,
  runHeader,
  runOf,
  RunCollisionError,
  RunRecord,
  runRequired,
  RunRequiredError,
  type ActiveRun,
  type RunHeader,
} from './run-output.js';

/** The sink's own folder inside `directory`: journals, temporary files, the fencing token. */
export const STATE_FOLDER = '.passerelle-excel';
/** Excel's column limit; inferred columns beyond it are left out (and counted). */
const MAX_COLUMNS = 16_384;
/** The longest file name most file systems take (NAME_MAX, in bytes). */
const NAME_MAX = 255;
/**
 * What the sink adds to a file name in the longest file it derives from it: a part suffix (`-9999`)
 * and the manifest's temporary file (`.<name>.manifest.json.<pid>.tmp`).
 */
const NAME_SUFFIXES = '-9999'.length + '..manifest.json.4194304.tmp'.length;

export interface ExcelSinkOptions {
  /** The clock for periods, flushes and retention (tests drive it by hand). */
  now?: () => number;
  /** How often the sink looks at its clock, folder and lease (ms); default 1000. */
  tickEvery?: number;
  /** Lease time-to-live with Redis (ms); default 15 s. */
  leaseTtlMs?: number;
  /** Test hook: runs after a batch is appended, before it is flushed to disk and acknowledged. */
  beforeSync?: () => Promise<void>;
}

/** The message can never be written as it is (its file name): it fails alone, dead-lettered. */
export class FileNameError extends FatalError {}

/**
 * Writes rows into .xlsx files. A batch is acknowledged once it is in the file's journal on disk;
 * the .xlsx itself is rebuilt from the journal every `flushEvery`, at rotation and at close, always
 * atomically. See README.md for the design.
 */
export class ExcelSink implements Sink, RunAwareSink {
  private readonly directory: string;
  private readonly stateDir: string;
  private readonly now: () => number;
  private readonly fileName: FileNamer;
  private readonly sheetKey: RenderFn;
  private readonly configuredColumns: Column[] | undefined;
  private readonly open = new Map<string, OpenFile>(); // by base name
  /** Runs begun and not ended (scheduled pipelines), by run id. */
  private readonly runs = new Map<string, ActiveRun>();
  private readonly delivered = new DeliveredBatches();
  private readonly handles: JournalHandles;
  private readonly ownFiles: OwnFiles;
  private readonly runRecord: RunRecord;
  /** Appends, rotations and snapshots for builds, one at a time. */
  private readonly writes = new SerialQueue();
  private readonly builds: Builds;
  private readonly folder: FolderHealth;
  private readonly retention: Retention;
  /** With Redis: the folder's lease and fencing token (one writer per folder). */
  private readonly leased: LeasedWriter | undefined;
  private readonly counters: {
    rows: ComponentCounter;
    cellErrors: ComponentCounter;
    rejected: ComponentCounter;
  };
  private connected = false;
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;
  private lastFlush = 0;
  private rotationQueued = false;
  /** The append under way: the files are dropped only once it is over. */
  private inflight: Promise<unknown> = Promise.resolve();
  private lastCellErrorLog = 0;

  constructor(
    private readonly config: ExcelSinkConfig,
    private readonly ctx: ComponentContext,
    private readonly options: ExcelSinkOptions = {},
  ) {
    this.directory = resolve(config.directory);
    this.stateDir = join(this.directory, STATE_FOLDER);
    this.now = options.now ?? Date.now;
    this.fileName = compileFileName(config.fileName, ctx.pipeline, config.timeZone);
    this.sheetKey = compileTemplate(config.sheet);
    this.configuredColumns = config.columns ? compileColumns(config.columns) : undefined;
    this.handles = new JournalHandles(config.maxOpenFiles);
    this.ownFiles = new OwnFiles(this.stateDir, config.fileName);
    this.runRecord = new RunRecord(this.stateDir);
    this.folder = new FolderHealth(this.directory, this.stateDir);
    const m = ctx.metrics;
    this.counters = {
      rows: m.counter('passerelle_excel_rows_total', 'Rows stored in Excel journals (acknowledged).'),
      cellErrors: m.counter(
        'passerelle_excel_cell_errors_total',
        'Cells left empty or cut because a value did not fit its column (wrong type, text over 32,767 characters, more than 16,384 columns).',
      ),
      rejected: m.counter(
        'passerelle_excel_rejected_total',
        'Messages that can never be written (a field no column can name, a file name the file system refuses): dead-lettered.',
      ),
    };
    this.leased = folderLease(this.directory, this.stateDir, ctx, options.leaseTtlMs, {
      standBy: async () => {
        await this.writes.idle();
        await this.builds.idle();
        await this.dropFiles();
      },
      recover: async () => {
        await this.recover();
        this.builds.schedule();
      },
      failed: (error) => this.markBroken(error),
    });
    this.builds = new Builds({
      config,
      directory: this.directory,
      stateDir: this.stateDir,
      now: this.now,
      logger: ctx.logger,
      ownFiles: this.ownFiles,
      counters: {
        builds: m.counter('passerelle_excel_builds_total', 'Workbooks written to disk.', ['final']),
        buildErrors: m.counter(
          'passerelle_excel_build_errors_total',
          'Workbook builds that failed (retried).',
        ),
      },
      checkFence: async () => this.leased?.checkFence(),
      openFiles: () => this.open.values(),
      betweenAppends: (task) => this.writes.run(task),
      onRefused: (error) => this.markBroken(error),
    });
    this.retention = new Retention({
      retention: config.retention,
      directory: this.directory,
      ownFiles: this.ownFiles,
      runRecord: this.runRecord,
      counter: m.counter('passerelle_excel_retention_total', 'Old files removed by retention.', ['action']),
      logger: ctx.logger,
    });
  }

  async connect(signal: AbortSignal): Promise<void> {
    if (this.connected) return;
    try {
      loadExcelJs();
    } catch (error) {
      throw new NotConnectedError(`excel: ${errorMessage(error)}`, { cause: error });
    }
    await this.prepareFolder();
    await this.leased?.acquire(signal);
    try {
      await this.recover();
    } catch (error) {
      await this.leased?.release();
      throw error;
    }
    this.connected = true;
    this.folder.healthy();
    this.lastFlush = this.now();
    this.ctx.setState('connected');
    this.leased?.serve();
    this.timer = setInterval(() => void this.tick(), this.options.tickEvery ?? 1000);
    this.timer.unref?.();
    this.builds.schedule();
  }

  async write(batch: Message[], signal: AbortSignal): Promise<void> {
    this.refuseIfDown(); // at once, not behind the writes already queued
    return this.writes.run(() => this.writeNow(batch, signal));
  }

  async close(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    clearInterval(this.timer);
    this.leased?.stop();
    await this.writes.idle();
    // The open files are brought up to date but stay open: their period is not over.
    if (!this.folder.broken) this.builds.schedule(true);
    await this.builds.idle();
    // Before dropping the files: a takeover under way (after a lost lease) ends first.
    await this.leased?.release();
    await this.dropFiles();
    // A run not ended can not complete any more: its rerun starts over (its journals go at start).
    this.runs.clear();
    this.ctx.setState('stopped');
  }

  /** Brings every .xlsx up to date with its journal now (and finishes closed periods). */
  async flush(): Promise<void> {
    await this.writes.idle();
    this.builds.schedule(true);
    await this.builds.idle();
  }

  // ---------------------------------------------------------------- runs (scheduled pipelines)

  /**
   * A run begins (run-output.ts). With `rotate: run`, an earlier attempt of the same run (failed,
   * crashed, on another replica) is discarded: its journals go, and its files are replaced at the
   * end of this one. With a period rotation the run's rows are only counted.
   */
  async beginRun(run: Run, signal: AbortSignal): Promise<void> {
    this.refuseIfDown();
    await raceAbort(
      this.writes.run(async () => {
        if (this.config.rotate === 'run') {
          for (const [base, file] of [...this.open])
            if (file.run?.id === run.id) {
              this.open.delete(base);
              await file.writer.close();
            }
          for (const part of this.runs.get(run.id)?.parts.values() ?? []) await part.writer?.close();
          const discarded = await discardRunJournals(this.stateDir, run.id);
          if (discarded.length > 0)
            this.ctx.logger.info(
              { run: run.id, files: discarded },
              'excel: earlier attempt of the run discarded',
            );
        }
        this.runs.set(run.id, { run: runHeader(run), parts: new Map(), rows: 0, targets: new Set() });
      }),
      signal,
    );
  }

  /**
   * The run's batches are all written: with `rotate: run` its files are built now, each into a
   * temporary file renamed into place (then its manifest), replacing those of an earlier attempt.
   * The run is complete when this resolves.
   */
  async endRun(run: Run, signal: AbortSignal): Promise<RunOutput> {
    const active = this.runs.get(run.id);
    if (!active)
      throw new FatalError(`excel: run ${run.id} ended without beginRun (or the sink was restarted)`);
    return raceAbort(
      this.writes.run(async () => {
        this.refuseIfDown();
        if (this.config.rotate !== 'run') {
          this.runs.delete(run.id);
          return { targets: [...active.targets].map((f) => join(this.directory, f)), rows: active.rows };
        }
        try {
          return await this.finishRun(active);
        } catch (error) {
          if (error instanceof PasserelleError) throw error;
          throw new RetryableError(
            `excel: the files of run ${run.id} could not be written: ${errorMessage(error)}`,
            {
              cause: error,
            },
          );
        }
      }),
      signal,
    );
  }

  private async finishRun(active: ActiveRun): Promise<RunOutput> {
    const run = active.run;
    await this.leased?.checkFence();
    if (active.parts.size === 0) {
      // No rows: the run still has its file, with the header (configured columns) only.
      const period = { start: run.start, end: run.end };
      const file = await this.openFile(this.fileNameOf(emptyRunMessage(run), period), period, 1, run);
      if (this.configuredColumns) file.state.columns = this.configuredColumns.map(columnRecord);
    }
    for (const [base, file] of [...this.open]) if (file.run?.id === run.id) this.open.delete(base);
    const parts = [...active.parts.values()].sort((a, b) => a.state.header.part - b.state.header.part);
    const files = parts.map((p) => p.state.header.file);
    for (const file of files) await this.checkRunFile(file, run);
    // Files of an earlier complete attempt that this one does not write again (fewer parts).
    const stale = this.runRecord.filesOf(run.id).filter((f) => !files.includes(f));
    await this.runRecord.set(
      files.map((file) => ({ file, run: run.id })),
      stale,
    );
    let rows = 0;
    for (const part of parts) {
      const length = part.writer?.length ?? part.state.length;
      await part.writer?.close();
      part.writer = undefined;
      part.state.length = length;
      // An earlier attempt's manifest goes first: a manifest only ever describes the file beside it.
      await rm(join(this.directory, `${part.state.header.file}.manifest.json`), { force: true });
      await this.builds.build(part.state, part.path, length, true);
      rows += part.state.rows;
    }
    for (const part of parts) await rm(part.path, { force: true });
    for (const file of stale) {
      await rm(join(this.directory, file), { force: true });
      await rm(join(this.directory, `${file}.manifest.json`), { force: true });
    }
    await syncDirectory(this.stateDir);
    this.runs.delete(run.id);
    this.ctx.logger.info({ run: run.id, files, rows }, 'excel: run written');
    return { targets: files.map((f) => join(this.directory, f)), rows };
  }

  /** A run may write `file` unless another run holds it, or it is not a run file of this sink. */
  private async checkRunFile(file: string, run: RunHeader): Promise<void> {
    const holder = this.runRecord.holder(file);
    if (holder === run.id) return;
    const exists = await stat(join(this.directory, file)).then(
      () => true,
      () => false,
    );
    if (!exists) return;
    throw new RunCollisionError(
      holder
        ? `excel: ${file} holds run ${holder}, and run ${run.id} would replace it: put the window in fileName ({{window.start:YYYY-MM-DD_HH-mm}})`
        : `excel: ${file} is already in ${this.directory} and no run of this sink wrote it: it is not replaced (rename it, or change fileName)`,
    );
  }

  /** After a repair or a lease change mid-run: the journals of the runs still going are reopened. */
  private async recoverRuns(states: Journal[]): Promise<void> {
    for (const r of this.runs.values()) r.parts.clear();
    const latest = latestParts(states);
    for (const { state, path } of states) {
      const active = this.runs.get(state.header.run?.id ?? '');
      if (!active) continue;
      if (latest.get(state.header.base) !== state) {
        active.parts.set(state.header.file, { state, path });
        continue;
      }
      const file = this.track(state, await JournalWriter.reopen(path, state.length, this.handles));
      active.parts.set(state.header.file, { state, path, writer: file.writer });
    }
  }

  /**
   * Housekeeping, every `tickEvery`: period rotation by the clock, the periodic rebuild, retention,
   * and a check that the folder is still there (or, when it was not, whether it is back).
   */
  async tick(): Promise<void> {
    if (this.ticking || !this.connected) return;
    this.ticking = true;
    try {
      if (this.leased?.lost) return;
      if (this.folder.broken) return await this.tryRepair();
      await this.checkFolder();
      const now = this.now();
      // Queued behind the writes, not awaited: a stuck write must not stop the folder checks.
      if (!this.rotationQueued) {
        this.rotationQueued = true;
        this.writes
          .run(async () => {
            this.rotationQueued = false;
            await this.rotateExpired(now);
          })
          .catch((error: unknown) => this.markBroken(error));
      }
      if (now - this.lastFlush >= this.config.flushEvery || this.builds.closing.length > 0) {
        this.lastFlush = now;
        this.builds.schedule();
      }
      await this.retention.maybeApply(now, () => this.busyFiles());
    } catch (error) {
      this.markBroken(error);
    } finally {
      this.ticking = false;
    }
  }

  // ---------------------------------------------------------------- writing

  private refuseIfDown(): void {
    if (!this.connected) throw new NotConnectedError('excel sink is not connected');
    const broken = this.folder.broken;
    if (broken) throw new NotConnectedError(`excel: ${this.directory} is not writable: ${broken.message}`);
    if (this.leased?.lost)
      throw new NotConnectedError('excel: another replica writes these files (lease lost)');
  }

  private async writeNow(batch: Message[], signal: AbortSignal): Promise<void> {
    this.refuseIfDown();
    if (batch.length === 0) return;
    const now = this.now();
    try {
      await this.rotateExpired(now);
      await this.leased?.checkFence();
      const rotate = this.config.rotate;
      const work = this.append(
        batch,
        rotate === 'run' ? undefined : periodOf(now, rotate, this.config.timeZone),
      );
      this.inflight = work.catch(() => undefined);
      // A write stuck on a folder that went away (a dead network mount) fails as soon as the
      // folder check notices, instead of hanging; if it did land, the batch id dedupes the retry.
      await raceAbort(work, AbortSignal.any([signal, this.folder.signal]));
    } catch (error) {
      if (error instanceof NotConnectedError || error instanceof BatchError) throw error;
      if (error instanceof JournalSpaceError) this.folder.needSpace(error.bytes);
      this.markBroken(error);
      throw new NotConnectedError(`excel: writing to ${this.directory} failed: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  /** Appends a batch to its files' journals; `period` is undefined with `rotate: run` (per message). */
  private async append(batch: Message[], clockPeriod: Period | undefined): Promise<void> {
    const batchId = batchIdOf(batch);
    const already = this.delivered.filesOf(batchId);
    // Runs dedupe within their own journals: a rerun writes the same batches again, and must.
    const inRun = new Map<OpenFile, boolean>();
    const runRows = new Map<ActiveRun, number>();
    const lines = new Map<OpenFile, string[]>();
    const rowsPerFile = new Map<OpenFile, number>();
    const full: OpenFile[] = [];
    const failures: BatchFailure[] = [];
    let cellErrors = 0;
    let firstError = '';
    for (const [index, message] of batch.entries()) {
      let file: OpenFile;
      let base: string;
      let columnsBefore: number;
      let active: ActiveRun | undefined;
      try {
        let period = clockPeriod;
        const tag = runOf(message);
        active = tag ? this.runs.get(tag.id) : undefined;
        if (!period) {
          if (!tag) throw runRequired(message);
          if (!active)
            throw new RunRequiredError(
              `excel: message ${message.id} belongs to run ${tag.id}, which was not begun (beginRun) or has ended`,
            );
          period = { start: active.run.start, end: active.run.end };
        }
        base = this.fileNameOf(message, period);
        const run = clockPeriod ? undefined : active?.run;
        if (!run && already?.has(base)) continue; // delivered again: this file has it
        const known = this.open.get(base);
        if (run && known) {
          if (known.run?.id !== run.id)
            throw new RunCollisionError(
              `excel: runs ${known.run?.id ?? '(none)'} and ${run.id} both name their file ${base}: put the window in fileName ({{window.start:YYYY-MM-DD_HH-mm}})`,
            );
          let has = inRun.get(known);
          if (has === undefined) inRun.set(known, (has = known.state.batches.includes(batchId)));
          if (has) continue; // this attempt of the run has the batch already
        }
        // A message that would fail on its columns does not create a file for nothing.
        if (!known && !this.configuredColumns) new InferredColumns().observe([message]);
        file = known ?? (await this.openFile(base, period, run ? 1 : undefined, run));
        if (this.config.maxRowsPerFile !== undefined && file.state.rows >= this.config.maxRowsPerFile) {
          // The file is full: what this batch put in it is written first, then the next part starts.
          full.push(file);
          file = await this.openFile(base, period, file.state.header.part + 1, run);
          if (run) inRun.set(file, false);
        }
        columnsBefore = file.columns.length;
        file.inferred?.observe([message]);
      } catch (error) {
        const rejected = messageError(error, message);
        if (!rejected) throw error;
        failures.push({ index, error: rejected });
        continue;
      }
      let out = lines.get(file);
      if (!out) {
        out = [];
        lines.set(file, out);
        rowsPerFile.set(file, 0);
      }
      if (file.inferred) {
        if (file.inferred.columns.length > MAX_COLUMNS) {
          cellErrors += file.inferred.columns.length - MAX_COLUMNS;
          firstError ||= `more than ${MAX_COLUMNS} columns: the extra fields are left out`;
          file.inferred.columns.length = MAX_COLUMNS;
        }
        file.columns = file.inferred.columns;
      }
      if (file.columns.length !== columnsBefore || file.state.columns.length === 0) {
        file.state.columns = file.columns.map(columnRecord);
        out.push(JSON.stringify({ c: file.state.columns }));
      }
      const key = this.sheetKey(message, { pipeline: this.ctx.pipeline });
      const sheet = this.sheetFor(file, key, out);
      const { cells, errors } = toRow(file.columns, message);
      for (let i = 0; i < cells.length; i++) {
        let cell = cells[i] ?? null;
        if (typeof cell === 'string') cells[i] = cell = xmlSafe(cell);
        if (typeof cell === 'string' && cell.length > MAX_CELL_TEXT) {
          cells[i] = `${cell.slice(0, MAX_CELL_TEXT - 1)}…`;
          errors.push(
            `column "${file.columns[i]?.header}": text of ${cell.length} characters cut to ${MAX_CELL_TEXT}`,
          );
        }
      }
      if (errors.length > 0) {
        cellErrors += errors.length;
        firstError ||= `message ${message.id}: ${errors[0]}`;
      }
      out.push(encodeRow(sheet.index, cells));
      observeWidths(file.state, sheet, cells);
      sheet.rows++;
      file.state.rows++;
      rowsPerFile.set(file, (rowsPerFile.get(file) ?? 0) + 1);
      // With a period rotation, a run's rows are counted for its output (endRun).
      if (active && !file.run) {
        runRows.set(active, (runRows.get(active) ?? 0) + 1);
        active.targets.add(file.state.header.file);
      }
    }

    const token = this.leased?.token ?? 0;
    // At most `maxOpenFiles` journals are written at once: each append holds a descriptor.
    const entries = [...lines];
    for (let i = 0; i < entries.length; i += this.handles.max) {
      await Promise.all(
        entries.slice(i, i + this.handles.max).map(async ([file, out]) => {
          out.push(JSON.stringify({ b: batchId, r: rowsPerFile.get(file) ?? 0, t: token }));
          await file.writer.append(`${out.join('\n')}\n`);
        }),
      );
    }
    await this.options.beforeSync?.();
    // The data went to the journals' inodes; make sure those are still the ones in the folder.
    await this.checkFolder();
    for (const file of lines.keys()) {
      rememberBatch(file.state, batchId);
      if (!file.run) this.delivered.remember(batchId, file.state.header.base);
    }
    for (const [active, n] of runRows) active.rows += n;
    let rows = 0;
    for (const n of rowsPerFile.values()) rows += n;
    this.counters.rows.inc(undefined, rows);
    if (cellErrors > 0) this.reportCellErrors(cellErrors, firstError);
    // A run's full part waits for the run's end like the others.
    for (const file of full) if (!file.run) this.close_(file);
    if (failures.length > 0) {
      this.counters.rejected.inc(undefined, failures.length);
      this.ctx.logger.warn(
        { messages: failures.length, example: failures[0]?.error.message },
        'excel: messages that can never be written are dead-lettered; the rest of the batch is written',
      );
      throw new BatchError(failures);
    }
  }

  /** The file name of a message, or a FileNameError when no file system would take it. */
  private fileNameOf(message: Message, period: Period): string {
    const name = this.fileName(message, period);
    const bytes = Buffer.byteLength(name);
    if (bytes + NAME_SUFFIXES > NAME_MAX)
      throw new FileNameError(
        `file name "${name.slice(0, 40)}…" is ${bytes} bytes long; at most ${NAME_MAX - NAME_SUFFIXES} bytes (file systems take ${NAME_MAX}, and the sink adds suffixes)`,
      );
    return name;
  }

  /** The sheet a row of `key` goes to: the key's current sheet, or a new one when it is full. */
  private sheetFor(file: OpenFile, key: string, out: string[]): JournalSheet {
    let sheet = file.sheetOf.get(key);
    if (sheet && sheet.rows < this.config.maxRowsPerSheet - 1) return sheet;
    const part = sheet ? sheet.part + 1 : 1;
    sheet = { index: file.state.sheets.length, name: file.names.allocate(key, part), key, part, rows: 0 };
    file.state.sheets.push(sheet);
    file.sheetOf.set(key, sheet);
    out.push(JSON.stringify({ s: sheet.index, n: sheet.name, k: key, p: part }));
    return sheet;
  }

  private reportCellErrors(count: number, first: string): void {
    this.counters.cellErrors.inc(undefined, count);
    const now = Date.now();
    if (now - this.lastCellErrorLog < 10_000) return;
    this.lastCellErrorLog = now;
    this.ctx.logger.warn(
      { cells: count, example: first },
      'excel: values that do not fit their column were left empty or cut',
    );
  }

  /** Opens the file of `base` for this period: a new journal, after the parts already on disk. */
  private async openFile(base: string, period: Period, part?: number, run?: RunHeader): Promise<OpenFile> {
    const next = part ?? (await this.nextPart(base));
    const file = partName(base, next);
    if (run) await this.checkRunFile(file, run);
    const header = {
      v: JOURNAL_VERSION,
      file,
      base,
      part: next,
      // A run's file is never closed by the clock: it is built when the run ends.
      periodEnd: !run && Number.isFinite(period.end) ? period.end : null,
      ...(run ? { run } : {}),
    };
    const journalPath = join(this.stateDir, `${file}.journal`);
    const writer = await JournalWriter.create(journalPath, header, this.handles);
    await syncDirectory(this.stateDir);
    const open = this.track(newState(header, []), writer);
    if (run) this.runs.get(run.id)?.parts.set(file, { state: open.state, path: journalPath, writer });
    this.ctx.logger.info({ file, run: run?.id }, 'excel: new file');
    return open;
  }

  /** The first part number not used by a file on disk: never overwrite a finished file. */
  private async nextPart(base: string): Promise<number> {
    const names = new Set(await readdir(this.directory));
    let part = 1;
    while (names.has(partName(base, part))) part++;
    return part;
  }

  private track(state: JournalState, writer: JournalWriter): OpenFile {
    const names = new SheetNames();
    const sheetOf = new Map<string, JournalSheet>();
    for (const sheet of state.sheets) {
      names.reserve(sheet.name);
      sheetOf.set(sheet.key, sheet);
    }
    const inferred = this.configuredColumns ? undefined : new InferredColumns(state.columns);
    const file: OpenFile = {
      state,
      writer,
      identity: writer.identity,
      names,
      sheetOf,
      columns: this.configuredColumns ?? inferred?.columns ?? [],
      inferred,
      builtLength: 0,
      run: state.header.run,
    };
    this.open.set(state.header.base, file);
    return file;
  }

  // ---------------------------------------------------------------- rotation and builds

  private async rotateExpired(now: number): Promise<void> {
    for (const file of [...this.open.values()]) {
      const end = file.state.header.periodEnd;
      if (end !== null && end <= now) this.close_(file);
    }
  }

  /** No more rows for this file: it gets its final build, then its journal goes. */
  private close_(file: OpenFile): void {
    if (this.open.get(file.state.header.base) === file) this.open.delete(file.state.header.base);
    file.state.length = file.writer.length;
    void file.writer.close();
    this.builds.finishLater({ state: file.state, path: file.writer.path });
  }

  // ---------------------------------------------------------------- recovery and the folder

  /** Proves the folder takes writes and loads the sink's records in it. */
  private prepareFolder(): Promise<void> {
    return this.folder.prepare(async () => {
      await this.ownFiles.load();
      await this.runRecord.load();
    });
  }

  /** Replays the journals left by an earlier run: closed periods are finished, the rest reopened. */
  private async recover(): Promise<void> {
    const { periods, runs } = await readJournals({
      stateDir: this.stateDir,
      now: this.now,
      logger: this.ctx.logger,
      runGoing: (id) => this.runs.has(id),
      maxRowsPerFile: this.config.maxRowsPerFile,
      configuredColumns: this.configuredColumns,
    });
    for (const { state } of periods)
      for (const id of state.batches) this.delivered.remember(id, state.header.base);
    for (const { state, path, reopen } of periods) {
      if (reopen) this.track(state, await JournalWriter.reopen(path, state.length, this.handles));
      else this.builds.closing.push({ state, path });
    }
    await this.recoverRuns(runs);
    if (periods.length > 0)
      this.ctx.logger.info(
        { journals: periods.length, open: this.open.size, finishing: this.builds.closing.length },
        'excel: recovered journals',
      );
  }

  /** Throws when the folder or a journal was removed, replaced or moved since they were opened. */
  private checkFolder(): Promise<void> {
    return this.folder.check(
      [...this.open.values()].map((f) => ({ path: f.writer.path, identity: f.identity })),
    );
  }

  private markBroken(error: unknown): void {
    if (!this.connected || !this.folder.fail(error)) return;
    this.ctx.logger.error(
      { directory: this.directory, err: errorMessage(error) },
      'excel: the folder is not writable; rows are refused until it is',
    );
    this.ctx.setState(
      'reconnecting',
      new NotConnectedError(`excel: ${this.directory}: ${errorMessage(error)}`),
    );
    void this.writes.run(() => this.dropFiles());
  }

  /** Forgets the in-memory state: the journals on disk are the truth, replayed on repair. */
  private async dropFiles(): Promise<void> {
    await this.inflight;
    for (const file of this.open.values()) await file.writer.close();
    this.open.clear();
    this.builds.closing.length = 0;
  }

  private async tryRepair(): Promise<void> {
    try {
      await this.writes.idle();
      await this.builds.idle();
      await this.prepareFolder();
      await this.recover();
    } catch (error) {
      await this.dropFiles();
      this.ctx.logger.debug({ err: errorMessage(error) }, 'excel: folder still not writable');
      return;
    }
    this.folder.healthy();
    this.ctx.logger.info({ directory: this.directory }, 'excel: folder writable again');
    this.ctx.setState('connected');
    this.builds.schedule();
  }

  // ---------------------------------------------------------------- retention

  /** The files still being written: retention never touches them. */
  private busyFiles(): Set<string> {
    const busy = new Set<string>();
    for (const f of this.open.values()) busy.add(f.state.header.file);
    for (const f of this.builds.closing) busy.add(f.state.header.file);
    for (const r of this.runs.values()) for (const f of r.parts.keys()) busy.add(f);
    return busy;
  }
}

/** The error a message fails with alone (it can never be written as it is), or undefined. */
function messageError(error: unknown, message: Message): Error | undefined {
  if (
    error instanceof ColumnPathError ||
    error instanceof FileNameError ||
    error instanceof RunRequiredError ||
    error instanceof RunCollisionError
  )
    return error;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENAMETOOLONG' || code === 'EILSEQ' || code === 'EINVAL')
    return new FileNameError(
      `message ${message.id}: the file system refuses its file name: ${errorMessage(error)}`,
    );
  return undefined;
}

/** Resolves or rejects with `work`, or rejects as soon as the signal aborts. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  const abandoned = (): NotConnectedError =>
    new NotConnectedError(`excel: write abandoned: ${errorMessage(signal.reason)}`);
  if (signal.aborted) return Promise.reject(abandoned());
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(abandoned());
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

function encodeRow(sheet: number, cells: CellValue[]): string {
  let line = `[${sheet}`;
  for (const cell of cells) line += `,${JSON.stringify(encodeCell(cell)) ?? 'null'}`;
  return `${line}]`;
}
