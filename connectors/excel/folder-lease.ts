import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ComponentContext } from '../../src/sdk/index.js';
import { LeasedWriter, type FenceStore, type LeasedWriterHooks } from '../../src/sdk/leased-writer.js';
import { writeFileAtomic } from './workbook.js';

/**
 * With Redis, one replica writes a folder: the SDK's LeasedWriter holds the lease
 * (`passerelle:lease:excel:<directory>`, keyed by the folder, so two pipelines on one folder share
 * it) and the fencing token is kept in `<directory>/.passerelle-excel/fence`, where every replica
 * sharing the folder reads it before each append and build.
 */
export function folderLease(
  directory: string,
  stateDir: string,
  ctx: ComponentContext,
  ttlMs: number | undefined,
  hooks: LeasedWriterHooks,
): LeasedWriter | undefined {
  if (!ctx.redisUrl) return undefined;
  return new LeasedWriter({
    redisUrl: ctx.redisUrl,
    key: `passerelle:lease:excel:${directory}`,
    owner: ctx.leaseOwner,
    ...(ttlMs ? { ttlMs } : {}),
    logger: ctx.logger,
    component: 'excel',
    target: directory,
    fence: folderFence(stateDir),
    setState: (state, error) => ctx.setState(state, error),
    hooks,
  });
}

/** The fencing token in the folder itself: replicas share the folder, not necessarily Redis' view. */
export function folderFence(stateDir: string): FenceStore {
  const path = join(stateDir, 'fence');
  return {
    write: (token) => writeFileAtomic(path, String(token)),
    read: () => readFile(path, 'utf8').then(Number, () => 0),
  };
}
