/**
 * Scale-out, end to end: three `passerelle run` processes (the built CLI) on one pipeline set, with
 * a real Redis (append-only file) and Mosquitto. A shared-subscription pipeline is split among the
 * replicas; a plain subscription is read by the one replica holding its lease. Replicas are killed
 * with SIGKILL at random points and restarted; every message is counted at the far end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mqttSource } from '../../connectors/mqtt/index.js';
import { startMosquitto, startRedis, type ServiceHandle } from '../harness/services.js';
import { collect, publishSequence, type Collector } from './mqtt-tools.js';
import { metric, startService, tempDir, waitFor, waitReady, type ServiceProcess } from './service-process.js';

const LEASE_TTL_MS = 3_000;
const MAX_IN_FLIGHT = 500;
const BATCH = 200;
/** What one kill can duplicate: messages read but not yet acknowledged, plus the batch being written. */
const DUPLICATES_PER_KILL = MAX_IN_FLIGHT + BATCH;

function pipelines(brokerUrl: string): { shared: string; single: string } {
  const common = (name: string, topics: string, clientId: string, out: string): string => `
name: ${name}
maxUnsettled: ${MAX_IN_FLIGHT}
shutdownTimeout: 5s
source:
  type: mqtt
  url: ${brokerUrl}
  topics: ['${topics}']
  qos: 1
  cleanSession: false
  clientId: ${clientId}
sinks:
  - type: mqtt
    url: ${brokerUrl}
    topic: ${out}
    qos: 1
    batch: { count: ${BATCH} }
`;
  return {
    // Each replica has its own persistent session in the shared group.
    shared: common('shared', '$share/passerelle/in/shared', 'shared-${env:REPLICA_ID}', 'out/shared'),
    // One session for the pipeline, whichever replica holds the lease.
    single: common('single', 'in/single', 'single-reader', 'out/single'),
  };
}

describe('mqtt source singleReader', () => {
  const parse = (topics: string[]) =>
    mqttSource.config.parse({ url: 'mqtt://broker:1883', topics }) as Parameters<
      NonNullable<typeof mqttSource.singleReader>
    >[0];
  it('is single-reader unless every topic is a shared subscription', () => {
    expect(mqttSource.singleReader?.(parse(['plant/#']))).toBe(true);
    expect(mqttSource.singleReader?.(parse(['$share/g/plant/#', 'alarms/#']))).toBe(true);
    expect(mqttSource.singleReader?.(parse(['$share/g/plant/#', '$share/g/alarms/#']))).toBe(false);
  });
});

describe('three replicas with Redis', { timeout: 180_000 }, () => {
  let broker: ServiceHandle;
  let redis: ServiceHandle;
  const tmp = tempDir('scale');
  const replicas: ServiceProcess[] = [];
  let files: string[];
  let kills = 0;

  const env = (id: number): Record<string, string> => ({
    REPLICA_ID: String(id),
    // One identity per replica, as each pod's own name gives it; a restart keeps it.
    PASSERELLE_IDENTITY: `replica-${id}`,
    PASSERELLE_LEASE_TTL: `${LEASE_TTL_MS}ms`,
    PASSERELLE_OUTBOX_LOCK_DURATION: '2s',
    PASSERELLE_LOG_LEVEL: 'info',
  });
  const launch = async (id: number): Promise<ServiceProcess> => {
    const service = await startService(files, { redisUrl: redis.url, env: env(id), args: ['--no-watch'] });
    replicas[id] = service;
    return service;
  };
  const leaseHolders = async (): Promise<number[]> => {
    const held = await Promise.all(
      replicas.map(async (r) =>
        r.child.exitCode === null && r.child.signalCode === null
          ? await metric(r, 'passerelle_lease_held', { pipeline: 'single' }).catch(() => 0)
          : 0,
      ),
    );
    return held.flatMap((h, i) => (h === 1 ? [i] : []));
  };
  const dump = async (error: unknown): Promise<never> => {
    for (const [i, r] of replicas.entries()) console.log(`--- replica ${i}\n${r.output().slice(-3000)}`);
    throw error;
  };

  beforeAll(async () => {
    [broker, redis] = await Promise.all([startMosquitto(), startRedis({ appendOnly: true })]);
    const p = pipelines(broker.url);
    tmp.write('shared.yaml', p.shared);
    tmp.write('single.yaml', p.single);
    files = [tmp.dir]; // the folder, as a mounted ConfigMap
    await Promise.all([0, 1, 2].map((id) => launch(id)));
    await Promise.all(replicas.map((r) => waitReady(r, 60_000)));
  });
  afterAll(async () => {
    for (const r of replicas) if (r.child.exitCode === null) r.kill('SIGKILL');
    await Promise.all(replicas.map((r) => r.exited));
    await Promise.all([broker, redis].map((h) => h?.dispose()));
    tmp.remove();
  });

  it('loses nothing while replicas are killed at random points, and keeps one reader of the single-reader pipeline', async () => {
    const sharedOut = await collect(broker.url, 'out/shared');
    const singleOut = await collect(broker.url, 'out/single');
    await waitFor(async () => (await leaseHolders()).length === 1, 15_000, 'one lease holder');
    const SHARED = 4_000;
    const SINGLE = 1_000;
    const startedAt = Date.now();
    const publishing = Promise.all([
      publishSequence(broker.url, 'in/shared', 0, SHARED, { ratePerSecond: 500 }),
      publishSequence(broker.url, 'in/single', 0, SINGLE, { ratePerSecond: 125 }),
    ]);
    // Kill at random points (while publishing, while a replica is still starting...), restart at once.
    const killLog: string[] = [];
    while (kills < 3) {
      await new Promise((r) => setTimeout(r, 1_000 + Math.random() * 1_500));
      const victim = Math.floor(Math.random() * 3);
      const holder = (await leaseHolders())[0];
      killLog.push(
        `+${Date.now() - startedAt} ms: kill -9 replica ${victim}${victim === holder ? ' (lease holder)' : ''}`,
      );
      replicas[victim]!.kill('SIGKILL');
      await replicas[victim]!.exited;
      kills++;
      await launch(victim);
    }
    await publishing;
    console.log(`scale: ${kills} kills\n${killLog.join('\n')}`);
    await Promise.all(replicas.map((r) => waitReady(r, 60_000))).catch(dump);

    const complete = (out: Collector, n: number, what: string) =>
      waitFor(() => out.counts.size >= n, 90_000, `${what}: all ${n} (have ${out.counts.size})`).catch(dump);
    await complete(sharedOut, SHARED, 'shared');
    await complete(singleOut, SINGLE, 'single');
    expect(sharedOut.missing(0, SHARED)).toEqual([]);
    expect(singleOut.missing(0, SINGLE)).toEqual([]);
    const duplicates = sharedOut.duplicates() + singleOut.duplicates();
    console.log(
      `scale: shared ${SHARED} + single ${SINGLE} messages all delivered; duplicates shared ${sharedOut.duplicates()}, single ${singleOut.duplicates()} (bound ${kills} kills x ${DUPLICATES_PER_KILL})`,
    );
    expect(duplicates).toBeLessThanOrEqual(kills * DUPLICATES_PER_KILL);

    // Quiet phase: the shared stream is split, the single one read by the lease holder alone.
    const holders = await leaseHolders();
    expect(holders).toHaveLength(1);
    const before = await Promise.all(
      replicas.map(async (r) => ({
        shared: await metric(r, 'passerelle_messages_received_total', { pipeline: 'shared' }),
        single: await metric(r, 'passerelle_messages_received_total', { pipeline: 'single' }),
      })),
    );
    await Promise.all([
      publishSequence(broker.url, 'in/shared', SHARED, 300),
      publishSequence(broker.url, 'in/single', SINGLE, 100),
    ]);
    await complete(sharedOut, SHARED + 300, 'shared, quiet phase');
    await complete(singleOut, SINGLE + 100, 'single, quiet phase');
    const after = await Promise.all(
      replicas.map(async (r) => ({
        shared: await metric(r, 'passerelle_messages_received_total', { pipeline: 'shared' }),
        single: await metric(r, 'passerelle_messages_received_total', { pipeline: 'single' }),
      })),
    );
    const sharedGrowth = after.map((a, i) => a.shared - before[i]!.shared);
    const singleGrowth = after.map((a, i) => a.single - before[i]!.single);
    expect(sharedGrowth.filter((g) => g > 0).length).toBeGreaterThanOrEqual(2);
    expect(sharedGrowth.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(300);
    expect(singleGrowth.filter((g) => g > 0)).toHaveLength(1);
    expect(singleGrowth[holders[0]!]).toBeGreaterThanOrEqual(100);
    await sharedOut.close();
    await singleOut.close();
  });

  it('moves the single reader within the lease time when its holder is killed, and at once on SIGTERM', async () => {
    const singleOut = await collect(broker.url, 'out/single');
    const base = 100_000;
    await waitFor(async () => (await leaseHolders()).length === 1, 15_000, 'one lease holder');
    const [killed] = await leaseHolders();
    replicas[killed!]!.kill('SIGKILL');
    const killedAt = Date.now();
    await waitFor(
      async () => (await leaseHolders()).some((h) => h !== killed),
      LEASE_TTL_MS + 10_000,
      'another replica to take the lease',
    ).catch(dump);
    const takeoverMs = Date.now() - killedAt;
    const [heir] = await leaseHolders();
    expect(heir).not.toBe(killed);
    // The lease is in Redis a moment before the heir logs that it starts reading.
    await waitFor(
      () => /holds the lease and starts reading the source/.test(replicas[heir!]!.output()),
      10_000,
      'the heir to start reading',
    ).catch(dump);
    expect(await metric(replicas[heir!]!, 'passerelle_lease_takeovers_total', { pipeline: 'single' })).toBe(
      1,
    );
    await publishSequence(broker.url, 'in/single', base, 200);
    await waitFor(() => singleOut.counts.size >= 200, 30_000, 'messages after the takeover').catch(dump);
    await replicas[killed!]!.exited;

    // Rolling restart of the new holder: it drains, releases the lease, exits 0; the third replica,
    // standing by, takes over at once.
    replicas[heir!]!.kill('SIGTERM');
    const termAt = Date.now();
    expect(await replicas[heir!]!.exited).toBe(0);
    await waitFor(async () => (await leaseHolders()).length === 1, LEASE_TTL_MS + 5_000, 'a new holder');
    const handoverMs = Date.now() - termAt;
    console.log(
      `scale: takeover after kill -9 ${takeoverMs} ms (ttl ${LEASE_TTL_MS}); after SIGTERM ${handoverMs} ms`,
    );
    // Within the ttl after a kill (the lease expires; plus polling and a loaded machine)...
    expect(takeoverMs).toBeLessThan(LEASE_TTL_MS + 4_000);
    // ...and well within it on a graceful stop, which releases the lease.
    expect(handoverMs).toBeLessThan(LEASE_TTL_MS);
    await publishSequence(broker.url, 'in/single', base + 200, 200);
    await waitFor(() => singleOut.counts.size >= 400, 30_000, 'messages after the handover').catch(dump);
    expect(singleOut.missing(base, base + 400)).toEqual([]);
    await singleOut.close();
  });

  it('reloads the pipeline folder on SIGHUP: a new pipeline starts, an invalid change is refused', async () => {
    const running = replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
    expect(running.length).toBeGreaterThanOrEqual(1);
    const names = async (r: ServiceProcess): Promise<string[]> =>
      (
        (await (await fetch(`${r.httpUrl}/status`)).json()) as { pipelines: { name: string }[] }
      ).pipelines.map((x) => x.name);
    tmp.write(
      'extra.yaml',
      pipelines(broker.url)
        .shared.replace('name: shared', 'name: extra')
        .replaceAll('in/shared', 'in/extra')
        .replace('clientId: shared-', 'clientId: extra-'),
    );
    for (const r of running) r.kill('SIGHUP');
    await waitFor(
      async () => (await Promise.all(running.map(names))).every((n) => n.includes('extra')),
      15_000,
      'the new pipeline on every replica',
    ).catch(dump);
    tmp.write('extra.yaml', 'name: extra\nsource: { type: mqtt }\nsinks: []\n');
    for (const r of running) r.kill('SIGHUP');
    await waitFor(
      async () =>
        (
          await Promise.all(
            running.map((r) => metric(r, 'passerelle_config_reloads_total', { result: 'refused' })),
          )
        ).every((n) => n === 1),
      15_000,
      'the invalid change refused',
    ).catch(dump);
    for (const r of running) {
      expect(await names(r)).toEqual(['extra', 'shared', 'single']);
      expect(await metric(r, 'passerelle_config_last_reload_ok')).toBe(0);
      expect(r.output()).toMatch(/configuration reload refused/);
    }
  });
});
