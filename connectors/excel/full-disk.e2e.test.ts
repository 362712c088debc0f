import { execFileSync } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, startRedis, type ServiceHandle } from '../../test/harness/services.js';
import {
  metric,
  startService,
  tempDir,
  waitFor,
  waitReady,
  type ServiceProcess,
} from '../../test/e2e/service-process.js';
import { readWithExceljs } from './test-support.js';

/**
 * The service itself (the built CLI, Redis outbox) writing 4 KB messages to a 1 MiB tmpfs: the disk
 * fills, the process stays up with readiness false, and once there is space every message is in
 * the file exactly once.
 */
const MESSAGES = 400;
const TEXT = 'x'.repeat(4096);

describe('excel sink on a full disk, in the service with the Redis outbox', () => {
  const tmp = tempDir('excel-full');
  const disk = join(tmp.dir, 'disk');
  let mounted = false;
  let broker: ServiceHandle;
  let redis: ServiceHandle;
  let service: ServiceProcess | undefined;

  beforeAll(async () => {
    [broker, redis] = await Promise.all([startMosquitto(), startRedis()]);
    await mkdir(disk);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', disk]);
    mounted = true;
  });

  afterAll(async () => {
    if (service && service.child.exitCode === null) {
      service.kill('SIGKILL');
      await service.exited;
    }
    if (mounted) execFileSync('umount', ['-l', disk]);
    await Promise.all([broker?.dispose(), redis?.dispose()]);
    tmp.remove();
  });

  it('stays up, not ready while full, and writes everything once space returns', async () => {
    const file = tmp.write(
      'excel.yaml',
      `
name: excel-full
shutdownTimeout: 20s
source:
  type: mqtt
  url: ${broker.url}
  topics: [in/big]
  qos: 1
  cleanSession: false
  clientId: excel-full
sinks:
  - type: excel
    directory: ${disk}
    fileName: big.xlsx
    rotate: none
    flushEvery: 1h
`,
    );
    // Debug logs: each refused repair of the folder is a line the test counts.
    service = await startService([file], {
      redisUrl: redis.url,
      args: ['--no-watch'],
      env: { PASSERELLE_LOG_LEVEL: 'debug' },
    });
    await waitReady(service, 30_000);

    const client = await mqtt.connectAsync(broker.url, { clientId: 'excel-full-pub' });
    for (let seq = 0; seq < MESSAGES; seq++)
      await client.publishAsync('in/big', JSON.stringify({ seq, text: TEXT }), { qos: 1 });
    await client.endAsync();

    const ready = async (): Promise<number> => (await fetch(`${service!.httpUrl}/readyz`)).status;
    await waitFor(async () => (await ready()) !== 200, 30_000, 'readiness false on the full disk');
    // Full for a while: the process stays up and stays not ready. Counted, not timed: the sink
    // tries to repair the folder on each housekeeping tick, and three attempts in a row must find
    // the disk still full and leave it broken (none logs the folder writable again).
    const repairsRefused = (): number =>
      service!.output().split('excel: folder still not writable').length - 1;
    await waitFor(
      () => {
        if (service!.child.exitCode !== null) throw new Error(`service exited:\n${service!.output()}`);
        return repairsRefused() >= 3;
      },
      30_000,
      'three repair attempts refused on the full disk',
    );
    expect(service.child.exitCode, service.output()).toBeNull();
    expect(service.output()).not.toContain('excel: folder writable again');
    expect(await ready()).not.toBe(200);
    const before = await metric(service, 'passerelle_excel_rows_total');
    expect(before).toBeLessThan(MESSAGES);

    execFileSync('mount', ['-o', 'remount,size=64m', disk]);
    await waitFor(async () => (await ready()) === 200, 60_000, `readiness back\n${service.output()}`);
    await waitFor(
      async () => (await metric(service!, 'passerelle_excel_rows_total')) >= MESSAGES,
      90_000,
      'every message written',
    );
    service.kill('SIGTERM');
    expect(await service.exited, service.output()).toBe(0);
    expect(service.output()).not.toMatch(/ERR_STREAM_DESTROYED|uncaught|unhandled/i);

    const { sheets } = await readWithExceljs(join(disk, 'big.xlsx'));
    const seqs = sheets[0]!.rows.slice(1).map((r) => r[1] as number);
    expect(seqs).toHaveLength(MESSAGES);
    expect(new Set(seqs).size).toBe(MESSAGES);
  });
});
