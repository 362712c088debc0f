/**
 * Recovery after a crash, end to end: `passerelle run` (the built CLI; `npm run build` first) reads
 * MQTT (a single-reader subscription, under a lease) and writes an Excel file (under its folder
 * lease) with the Redis outbox. It is killed with SIGKILL while messages flow and started again at
 * once with the same identity. Its leases are its own: it takes them back at once, and the outbox
 * writes to the sink as soon as it is connected, so rows reappear within seconds, not after the
 * lease expiry plus a backoff. Nothing acknowledged is lost.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ExcelJS from 'exceljs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, startRedis, type ServiceHandle } from '../harness/services.js';
import { publishSequence } from './mqtt-tools.js';
import { startService, tempDir, waitFor, waitReady, type ServiceProcess } from './service-process.js';

const BUILT = resolve(import.meta.dirname, '../../dist/src/cli/main.js');
if (!existsSync(BUILT)) throw new Error(`${BUILT} is missing: run \`npm run build\` first (npm test does)`);
/** "Within a few seconds of the restart": the take-backs, the delivery and a workbook flush (500 ms). */
const RECOVERY_BUDGET_MS = 8_000;

/** The `seq` column of every row of the workbook (an empty list while it does not exist yet). */
async function seqsInWorkbook(path: string): Promise<number[]> {
  if (!existsSync(path)) return [];
  const workbook = new ExcelJS.Workbook();
  try {
    await workbook.xlsx.readFile(path);
  } catch {
    return []; // replaced while being read
  }
  const seqs: number[] = [];
  for (const sheet of workbook.worksheets)
    sheet.eachRow((row, n) => {
      if (n > 1) seqs.push(Number(row.getCell(1).value));
    });
  return seqs;
}

describe('excel export with Redis: kill -9 and restart', { timeout: 240_000 }, () => {
  let broker: ServiceHandle;
  let redis: ServiceHandle;
  const tmp = tempDir('excel-restart');
  const services: ServiceProcess[] = [];

  beforeAll(async () => {
    [broker, redis] = await Promise.all([startMosquitto(), startRedis({ appendOnly: true })]);
  });
  afterAll(async () => {
    for (const s of services) if (s.child.exitCode === null && s.child.signalCode === null) s.kill('SIGKILL');
    await Promise.all(services.map((s) => s.exited));
    await Promise.all([broker, redis].map((h) => h?.dispose()));
    tmp.remove();
  });

  it('writes rows again within seconds of a restart with the same identity, and loses nothing', async () => {
    const folder = join(tmp.dir, 'exports');
    const workbook = join(folder, 'readings.xlsx');
    const file = tmp.write(
      'excel.yaml',
      `
name: excel-restart
source:
  type: mqtt
  url: ${broker.url}
  topics: ['plant/readings']
  qos: 1
  cleanSession: false
  clientId: excel-restart
sinks:
  - type: excel
    directory: ${folder}
    fileName: readings.xlsx
    rotate: none
    flushEvery: 500ms
    columns:
      - { header: seq, value: payload.seq, type: integer }
`,
    );
    // The production defaults: a 15 s lease (source and folder) and a 30 s retry cap.
    const launch = async (): Promise<ServiceProcess> => {
      const service = await startService([file], {
        redisUrl: redis.url,
        env: { PASSERELLE_IDENTITY: 'excel-node-1', PASSERELLE_LOG_LEVEL: 'info' },
        args: ['--no-watch'],
      });
      services.push(service);
      return service;
    };
    const dump = (error: unknown): never => {
      for (const [i, s] of services.entries()) console.log(`--- run ${i}\n${s.output().slice(-4000)}`);
      throw error;
    };

    const first = await launch();
    await waitReady(first, 60_000).catch(dump);
    await publishSequence(broker.url, 'plant/readings', 0, 50);
    await waitFor(async () => (await seqsInWorkbook(workbook)).length >= 50, 30_000, 'the first rows').catch(
      dump,
    );

    // Messages keep coming; the process dies in the middle of them, and is started again at once.
    const flowing = publishSequence(broker.url, 'plant/readings', 50, 200, { ratePerSecond: 50 });
    await new Promise((r) => setTimeout(r, 1_500));
    // Killed right after it renewed its folder lease: without the take-back, the restart would wait
    // the whole lease time (15 s) for it.
    const admin = new Redis(redis.url);
    try {
      await waitFor(
        async () => (await admin.pttl(`passerelle:lease:excel:${folder}`)) > 14_000,
        20_000,
        'a renewal of the folder lease',
      );
    } finally {
      admin.disconnect();
    }
    first.kill('SIGKILL');
    await first.exited;
    const restartedAt = Date.now();
    const second = await launch();
    // Node's own start (loading modules) is not what this measures: count from the moment the
    // service answers, which is before it holds its leases or writes anything.
    await waitFor(
      async () => {
        try {
          return (await fetch(`${second.httpUrl}/healthz`)).ok;
        } catch {
          return false;
        }
      },
      60_000,
      'the restarted service to answer',
    ).catch(dump);
    const upAt = Date.now();
    // Rows sent once it is up: the time until they are in the workbook is the recovery time.
    await publishSequence(broker.url, 'plant/readings', 10_000, 10);
    await waitFor(
      async () => (await seqsInWorkbook(workbook)).includes(10_009),
      90_000,
      'rows sent after the restart',
    ).catch(dump);
    const recoveryMs = Date.now() - upAt;
    console.log(
      `excel restart: rows written again ${recoveryMs} ms after the restarted service answered (${Date.now() - restartedAt} ms after kill -9 and exec; lease ttl 15 s)`,
    );
    expect(second.output()).toMatch(/taken back from an earlier process with the same identity/);
    expect(recoveryMs).toBeLessThan(RECOVERY_BUDGET_MS);
    await flowing;

    // Every message is in the workbook (a batch the dead process held comes back when its job lock expires).
    const want = [
      ...Array.from({ length: 250 }, (_, i) => i),
      ...Array.from({ length: 10 }, (_, i) => 10_000 + i),
    ];
    let seqs: number[] = [];
    await waitFor(
      async () => {
        seqs = await seqsInWorkbook(workbook);
        return want.every((s) => seqs.includes(s));
      },
      90_000,
      'every message in the workbook',
    ).catch((error: unknown) => {
      console.log(`missing: ${want.filter((s) => !seqs.includes(s)).join(', ')}`);
      dump(error);
    });
    console.log(
      `excel restart: ${seqs.length} rows for ${want.length} messages (duplicates ${seqs.length - new Set(seqs).size})`,
    );
  });
});
