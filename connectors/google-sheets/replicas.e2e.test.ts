/**
 * Two `passerelle run` processes (the built CLI) with one Redis, writing one spreadsheet of the
 * Sheets stand-in: the MQTT source is split with a shared subscription, the outbox jobs go to
 * whichever replica is free, and the two sinks share one write quota and one row cursor through
 * Redis. The stand-in enforces a quota both together would exceed if each kept its own.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, startRedis, type ServiceHandle } from '../../test/harness/services.js';
import { publishSequence } from '../../test/e2e/mqtt-tools.js';
import {
  metric,
  startService,
  tempDir,
  waitFor,
  waitReady,
  type ServiceProcess,
} from '../../test/e2e/service-process.js';
import { SheetsStub } from '../../test/sheets-stub/server.js';

const MESSAGES = 600;

describe(
  'google-sheets: two service processes sharing a spreadsheet through Redis',
  { timeout: 120_000 },
  () => {
    let broker: ServiceHandle;
    let redis: ServiceHandle;
    // 10 writes per 2 s (5/s); the account is configured for 3/s with a burst of 2.
    const stub = new SheetsStub({
      writesPerWindow: 10,
      windowMs: 2000,
      readsPerWindow: 1000,
      oauth: { clients: { 'e2e-client': 'e2e-secret' }, refreshTokens: { 'e2e-refresh': 'ana@example.com' } },
    });
    const tmp = tempDir('sheets-e2e');
    const services: ServiceProcess[] = [];
    let id: string;

    beforeAll(async () => {
      [broker, redis] = await Promise.all([startMosquitto(), startRedis(), stub.start()]).then(
        ([b, r]) => [b, r] as const,
      );
      id = stub.createSpreadsheet({ users: ['ana@example.com'] });
      const file = tmp.write(
        'sheets.yaml',
        `
name: sheets-e2e
shutdownTimeout: 5s
source:
  type: mqtt
  url: ${broker.url}
  topics: ['$share/e2e/in/readings']
  qos: 1
  cleanSession: false
  clientId: sheets-\${env:REPLICA_ID}
sinks:
  - type: google-sheets
    spreadsheetId: ${id}
    rootUrl: ${stub.url}
    auth:
      clientId: e2e-client
      clientSecret: \${env:SHEETS_CLIENT_SECRET}
      refreshToken: \${env:SHEETS_REFRESH_TOKEN}
      tokenUrl: ${stub.tokenUrl}
    tab: readings
    probeInterval: 1s
    quota: { writesPerMinute: 180, burst: 2, backoff: 2s }
    batch: { count: 40, maxWait: 300ms }
    concurrency: 2
`,
      );
      for (const replica of [1, 2]) {
        const service = await startService([file], {
          redisUrl: redis.url,
          env: {
            REPLICA_ID: String(replica),
            // Two replicas on one host: each its own identity, or each start would take back the other's jobs.
            PASSERELLE_IDENTITY: `sheets-replica-${replica}`,
            SHEETS_CLIENT_SECRET: 'e2e-secret',
            SHEETS_REFRESH_TOKEN: 'e2e-refresh',
          },
          args: ['--no-watch'],
        });
        services.push(service);
      }
      await Promise.all(services.map((s) => waitReady(s, 30_000)));
    });

    afterAll(async () => {
      for (const s of services) s.kill('SIGTERM');
      await Promise.all(services.map((s) => s.exited));
      await stub.stop();
      await Promise.all([broker?.dispose(), redis?.dispose()]);
      tmp.remove();
    });

    it('writes every reading once, from both replicas, without a single 429', async () => {
      const started = Date.now();
      await publishSequence(broker.url, 'in/readings', 0, MESSAGES, { ratePerSecond: 300 });
      const seqs = (): number[] => {
        const rows = stub.sheet(id, 'readings') ? stub.values(id, 'readings') : [];
        const col = (rows[0] ?? []).indexOf('seq');
        return col < 0 ? [] : rows.slice(1).map((r) => Number(r[col]));
      };
      await waitFor(() => new Set(seqs()).size >= MESSAGES, 60_000, 'every reading in the sheet');
      const got = seqs().filter((n) => !Number.isNaN(n));
      expect(got).toHaveLength(MESSAGES);
      expect(new Set(got).size).toBe(MESSAGES);
      expect(stub.requests.filter((r) => r.status === 429)).toEqual([]);
      const written = await Promise.all(
        services.map((s) => metric(s, 'passerelle_google_sheets_rows_written_total')),
      );
      // Both processes wrote (the outbox hands jobs to either), and together no more than once per row.
      expect(written.every((n) => n > 0)).toBe(true);
      expect(written[0]! + written[1]!).toBe(MESSAGES);
      // Paced together by the shared bucket: 3 writes per second after a burst of 2.
      const writes = stub.writes(started).length;
      expect(Date.now() - started).toBeGreaterThanOrEqual(((writes - 2) / 3) * 1000 - 300);
    });
  },
);
