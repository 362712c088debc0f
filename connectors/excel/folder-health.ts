import { mkdir, open, stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage, NotConnectedError } from '../../src/sdk/index.js';

/**
 * Whether the folder takes writes: proved at connect and at each repair (a probe file, and after a
 * full disk room for twice the batch that did not fit), watched while running (the folder and the
 * journals still the same inodes). Once broken, writes are refused and those under way fail at
 * once (`signal`), until a repair succeeds (README: "Unwritable folder", "Full disk").
 */
export class FolderHealth {
  private directoryIdentity = '';
  /** Bytes of the append that found the disk full: writing resumes once this much is free again. */
  private neededSpace = 0;
  private outage = new AbortController();
  private brokenBy: Error | undefined;

  constructor(
    private readonly directory: string,
    private readonly stateDir: string,
  ) {}

  /** Why the folder is not writable, or undefined while it is. */
  get broken(): Error | undefined {
    return this.brokenBy;
  }

  /** Aborted when the folder is found broken: in-flight writes fail at once. */
  get signal(): AbortSignal {
    return this.outage.signal;
  }

  /**
   * Proves the folder takes writes, then runs `load` (the sink's records in it); throws
   * NotConnectedError `excel: cannot write to <directory>: <reason>`.
   */
  async prepare(load: () => Promise<void>): Promise<void> {
    try {
      await mkdir(this.stateDir, { recursive: true });
      // Create-and-flush proves the folder takes writes (permissions, read-only mounts, full disks).
      const probe = join(this.stateDir, `.probe.${process.pid}`);
      const handle = await open(probe, 'w');
      try {
        const { bytesWritten } = await handle.write('ok');
        if (bytesWritten !== 2) throw new Error('no space left on the device (short write)');
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await unlink(probe);
      if (this.neededSpace > 0) {
        // After a full disk: resume once the batch that did not fit fits twice over, not at the
        // first free byte (which would fail again at once).
        const fs = await statfs(this.stateDir);
        const free = fs.bavail * fs.bsize;
        const needed = 2 * this.neededSpace + 65_536;
        if (free < needed)
          throw new Error(`no space left on the device (${free} bytes free, waiting for ${needed})`);
        this.neededSpace = 0;
      }
      this.directoryIdentity = await identityOf(this.directory);
      await load();
    } catch (error) {
      throw new NotConnectedError(`excel: cannot write to ${this.directory}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
  }

  /** Throws when the folder or a journal was removed, replaced or moved since it was opened. */
  async check(journals: Iterable<{ path: string; identity: string }>): Promise<void> {
    if ((await identityOf(this.directory)) !== this.directoryIdentity)
      throw new Error(`${this.directory} was replaced or moved`);
    for (const journal of journals) {
      if ((await identityOf(journal.path)) !== journal.identity)
        throw new Error(`journal ${journal.path} was removed or replaced`);
    }
  }

  /** An append found the disk full: the repair waits for room for twice `bytes`. */
  needSpace(bytes: number): void {
    this.neededSpace = Math.max(this.neededSpace, bytes);
  }

  /** Records the failure and fails the writes under way; false when it was already broken. */
  fail(error: unknown): boolean {
    if (this.brokenBy) return false;
    this.brokenBy = error instanceof Error ? error : new Error(String(error));
    this.outage.abort(this.brokenBy);
    return true;
  }

  /** Writable (again). */
  healthy(): void {
    this.brokenBy = undefined;
    this.outage = new AbortController();
  }
}

async function identityOf(path: string): Promise<string> {
  const s = await stat(path);
  return `${s.dev}:${s.ino}`;
}
