import { copyFile, mkdir, readdir, rename, rm, stat, unlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { ComponentCounter, Logger } from '../../src/sdk/index.js';
import type { OwnFiles } from './own-files.js';
import type { RunRecord } from './run-output.js';
import type { ExcelSinkConfig } from './spec.js';
import { syncDirectory } from './workbook.js';

const EVERY_MS = 60_000;

export interface RetentionOptions {
  retention: ExcelSinkConfig['retention'];
  directory: string;
  ownFiles: OwnFiles;
  runRecord: RunRecord;
  counter: ComponentCounter;
  logger: Logger;
}

/**
 * Once a minute, deletes (or archives) the files this sink wrote that are older than
 * `retention.maxAge`, never a file still being written and never a file it did not write
 * (README: "Retention"). A file that can not be removed stays and is tried again.
 */
export class Retention {
  private lastRun = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: RetentionOptions) {}

  /** Applies retention if it is configured and a minute has passed; `busy` are the files being written. */
  async maybeApply(now: number, busy: () => Set<string>): Promise<void> {
    if (!this.options.retention || now - this.lastRun < EVERY_MS) return;
    this.lastRun = now;
    await this.apply(now, busy());
  }

  private async apply(now: number, busy: Set<string>): Promise<void> {
    const { retention, directory, ownFiles, runRecord, counter, logger } = this.options;
    if (!retention) return;
    const removed: string[] = [];
    const failed: { file: string; error: string }[] = [];
    const entries = await readdir(directory, { withFileTypes: true });
    try {
      for (const entry of entries) {
        if (!entry.isFile() || busy.has(entry.name)) continue;
        if (!(await ownFiles.mayRemove(directory, entry.name))) continue;
        const path = join(directory, entry.name);
        const info = await stat(path).catch(() => undefined);
        if (!info || now - info.mtimeMs < retention.maxAge) continue;
        const manifest = `${path}.manifest.json`;
        // A file that cannot be archived or deleted stays, and is tried again next time: retention
        // is housekeeping, its failure must not stop the writes (the data folder is fine).
        try {
          if (retention.archiveDirectory) {
            const archive = resolve(retention.archiveDirectory);
            await mkdir(archive, { recursive: true });
            await moveFile(path, join(archive, entry.name));
            await moveFile(manifest, join(archive, `${entry.name}.manifest.json`)).catch(() => undefined);
            counter.inc({ action: 'archived' });
          } else {
            await rm(path, { force: true });
            await rm(manifest, { force: true });
            counter.inc({ action: 'deleted' });
          }
        } catch (error) {
          counter.inc({ action: 'failed' });
          failed.push({ file: entry.name, error: error instanceof Error ? error.message : String(error) });
          continue;
        }
        removed.push(entry.name);
        logger.info(
          { file: entry.name, archive: retention.archiveDirectory },
          retention.archiveDirectory ? 'excel: old file archived' : 'excel: old file deleted',
        );
      }
    } finally {
      await ownFiles.forget(removed);
      await runRecord.forget(removed);
    }
    if (failed.length > 0)
      logger.warn(
        { files: failed.length, first: failed[0], archive: retention.archiveDirectory },
        'excel: retention could not remove old files; they stay and are tried again in a minute',
      );
  }
}

async function moveFile(from: string, to: string): Promise<void> {
  try {
    await rename(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    await copyFile(from, to);
    await unlink(from);
  }
  await syncDirectory(resolve(to, '..'));
}
