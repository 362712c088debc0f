import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeContext, waitFor } from '../../test/conformance/context.js';
import { startRedis, type ServiceHandle } from '../../test/harness/services.js';
import { createMessage, NotConnectedError } from '../../src/sdk/index.js';
import { ExcelSink } from './sink.js';
import { excelConfig, readWithExceljs, tempFolder } from './test-support.js';

/**
 * A process restarted with the same identity (the engine's `ctx.leaseOwner`) takes its folder lease
 * back at once; its earlier life, should it still run (frozen, then resumed), is fenced out.
 */
let redis: ServiceHandle;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(async () => {
  await redis?.dispose();
});

const rows = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => createMessage({ id: `r-${from + i}`, payload: { n: from + i } }));

describe('excel sink with Redis: restarted with the same identity', () => {
  it('takes its folder lease back at once, and the earlier instance can no longer write', async () => {
    const { dir, dispose } = await tempFolder('take-back');
    const config = excelConfig({ directory: dir, fileName: 'shared.xlsx', rotate: 'none' });
    const leaseOwner = 'node-1/orders/excel';
    const leaseTtlMs = 15_000;
    const ctxOld = Object.assign(createFakeContext({ redisUrl: redis.url }), { leaseOwner });
    const ctxNew = Object.assign(createFakeContext({ redisUrl: redis.url }), { leaseOwner });
    const earlier = new ExcelSink(config, ctxOld, { tickEvery: 50, leaseTtlMs });
    const restarted = new ExcelSink(config, ctxNew, { tickEvery: 50, leaseTtlMs });
    try {
      await earlier.connect(AbortSignal.timeout(10_000));
      await earlier.write(rows(0, 5), AbortSignal.timeout(10_000));

      // Without the take-back it would wait for the lease to expire, and the signal would abort.
      const startedAt = Date.now();
      await restarted.connect(AbortSignal.timeout(leaseTtlMs / 3));
      expect(Date.now() - startedAt).toBeLessThan(leaseTtlMs / 3);
      expect(ctxNew.state).toBe('connected');

      // The earlier instance has not noticed yet (its next renewal is seconds away): the fencing
      // token the restarted one wrote refuses its write all the same.
      expect(ctxOld.state).toBe('connected');
      await expect(earlier.write(rows(100, 1), AbortSignal.timeout(10_000))).rejects.toBeInstanceOf(
        NotConnectedError,
      );

      await restarted.write(rows(5, 5), AbortSignal.timeout(10_000));
      await restarted.flush();
      const { sheets } = await readWithExceljs(join(dir, 'shared.xlsx'));
      expect(sheets[0]!.rows.slice(1).map((r) => r[1])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

      // At its next renewal it learns that it was taken back from, and stands by.
      await waitFor(() => ctxOld.state === 'standby', 'the earlier instance to stand by', leaseTtlMs);
      expect(ctxOld.logs.some((l) => /taken back/.test(String((l.obj as { reason?: string })?.reason)))).toBe(
        true,
      );
    } finally {
      await earlier.close();
      await restarted.close();
      await dispose();
    }
  });
});
