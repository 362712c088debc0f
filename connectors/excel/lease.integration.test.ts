import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeContext, waitFor } from '../../test/conformance/context.js';
import { startRedis, type ServiceHandle } from '../../test/harness/services.js';
import { createMessage, NotConnectedError } from '../../src/sdk/index.js';
import { ExcelSink } from './sink.js';
import { excelConfig, readWithExceljs, tempFolder } from './test-support.js';

/** Several replicas on one shared folder, with a real Redis: exactly one writes. */
let redis: ServiceHandle;
let admin: Redis;
beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});
afterAll(async () => {
  admin?.disconnect();
  await redis?.dispose();
});

const rows = (from: number, n: number) =>
  Array.from({ length: n }, (_, i) => createMessage({ id: `r-${from + i}`, payload: { n: from + i } }));

describe('excel sink with Redis: one writer per folder', () => {
  it('the second replica stands by, takes over with the journals, and fences the first one out', async () => {
    const { dir, dispose } = await tempFolder('lease');
    const config = excelConfig({ directory: dir, fileName: 'shared.xlsx', rotate: 'none' });
    const ctxA = createFakeContext({ redisUrl: redis.url });
    const ctxB = createFakeContext({ redisUrl: redis.url });
    const a = new ExcelSink(config, ctxA, { tickEvery: 50, leaseTtlMs: 600 });
    const b = new ExcelSink(config, ctxB, { tickEvery: 50, leaseTtlMs: 600 });
    try {
      await a.connect(AbortSignal.timeout(10_000));
      expect(ctxA.state).toBe('connected');
      const bConnected = b.connect(AbortSignal.timeout(20_000));
      await ctxB.waitForState('standby');
      await a.write(rows(0, 5), AbortSignal.timeout(10_000));
      await expect(b.write(rows(100, 1), AbortSignal.timeout(10_000))).rejects.toBeInstanceOf(
        NotConnectedError,
      );

      // A's lease vanishes (as when its host is cut off and the lease expires): B takes over.
      await admin.del(`passerelle:lease:excel:${dir}`);
      await bConnected;
      expect(ctxB.state).toBe('connected');
      // A, until it notices, is refused by the fencing token B wrote; then it stands by.
      await expect(a.write(rows(200, 1), AbortSignal.timeout(10_000))).rejects.toBeInstanceOf(
        NotConnectedError,
      );
      await waitFor(() => ctxA.state === 'standby', 'replica A to stand by');

      // B carries on in the same file, from the journal A left.
      await b.write(rows(5, 5), AbortSignal.timeout(10_000));
      await b.flush();
      const { sheets } = await readWithExceljs(join(dir, 'shared.xlsx'));
      expect(sheets[0]!.rows.slice(1).map((r) => r[1])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    } finally {
      await a.close();
      await b.close();
      await dispose();
    }
  });
});
