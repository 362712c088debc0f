import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  NotConnectedError,
  loadComponent,
  type Message,
  type Run,
  type RunReader,
} from '../../src/sdk/index.js';
import { createFakeContext, type FakeContext } from '../../test/conformance/context.js';
import { runReaderConformance } from '../../test/conformance/run-reader.js';
import { clientPki, SERVER_PKI } from '../../test/e2e/opcua-support.js';
import { freePort } from '../../test/harness/ports.js';
import { opcuaSource, type OpcuaPayload } from './index.js';
import { opcuaSourceConfig, opcuaSourceSpec } from './spec.js';
import { PLANT_NAMESPACE, startOpcuaSimulator, type RunningSimulator } from './simulator.js';

/** OPC UA read on a tick: one Read of the listed nodes per run, against the real plant simulator. */
let sim: RunningSimulator;
const USERS = { operator: 'correct horse battery staple' };
const P = `nsu=${PLANT_NAMESPACE};s=`;
const NODES = [`${P}Line1.Pressure`, `${P}Setpoints.Mode`, `${P}Line1.EnergyWh`, `${P}Samples.BadSensor`];

beforeAll(async () => {
  // Values change once a minute: every read in a test sees the same ones.
  sim = await startOpcuaSimulator({ port: 0, pkiFolder: SERVER_PKI, users: USERS, interval: 60_000 });
});
afterAll(async () => {
  await sim?.close();
});

function reader(overrides: Record<string, unknown>, ctx: FakeContext = createFakeContext()): RunReader {
  const config = opcuaSourceConfig.parse({
    url: sim.endpointUrl,
    username: 'operator',
    password: USERS.operator,
    pkiFolder: clientPki('reader-test'),
    trustedServerFingerprints: [sim.certificateFingerprint],
    nodes: NODES,
    reconnectDelay: '100ms',
    reconnectMaxDelay: '500ms',
    ...overrides,
  });
  return opcuaSource.createReader!(config, ctx);
}

const T = Date.UTC(2026, 11, 5, 14);
let n = 0;
const run = (end = T): Run => ({
  id: `shift@${new Date(end).toISOString()}#${++n}`,
  pipeline: 'shift',
  window: { start: end - 8 * 3_600_000, end },
  scheduledAt: end,
  attempt: 1,
  timeZone: 'Europe/Paris',
});

async function readAll(r: RunReader, theRun: Run): Promise<Message[]> {
  const out: Message[] = [];
  for await (const b of r.read(theRun, AbortSignal.timeout(20_000))) out.push(...b);
  return out;
}

describe('opcua source on a tick', () => {
  it('streams and is read on a tick', async () => {
    expect(opcuaSourceSpec.readModes).toEqual(['stream', 'tick']);
    const loaded = await loadComponent(opcuaSourceSpec);
    expect(loaded.createReader).toBeTypeOf('function');
    expect(loaded.create).toBeTypeOf('function');
  });

  it('reads every node once per run over SignAndEncrypt with a user: read time, source timestamp, exact values', async () => {
    const r = reader({ securityMode: 'SignAndEncrypt', securityPolicy: 'Basic256Sha256' });
    await r.connect(AbortSignal.timeout(20_000));
    try {
      const theRun = run();
      const before = Date.now();
      const messages = await readAll(r, theRun);
      const after = Date.now();
      expect(messages.map((m) => m.meta['opcua.name'])).toEqual([
        'Plant/Line1/Pressure',
        'Plant/Setpoints/Mode',
        'Plant/Line1/EnergyWh',
        'Plant/Samples/BadSensor',
      ]);
      const readTimes = new Set(messages.map((m) => m.time));
      expect(readTimes.size).toBe(1);
      const [readAt] = [...readTimes];
      expect(readAt).toBeGreaterThanOrEqual(before);
      expect(readAt).toBeLessThanOrEqual(after + 1);
      const mode = messages[1]!;
      expect(mode.id).toBe(`${theRun.id}/${String(mode.meta['opcua.nodeId'])}`);
      expect(mode.payload).toMatchObject({ node: 'Plant/Setpoints/Mode', value: 'auto', quality: 'good' });
      // The source timestamp stays in the payload; the message is timed when read.
      expect(Date.parse((mode.payload as OpcuaPayload).sourceTimestamp!)).toBeLessThan(readAt!);
      expect(mode.meta.run).toEqual({ id: theRun.id, window: theRun.window });
      const energy = messages[2]!.payload as OpcuaPayload;
      expect(energy.dataType).toBe('Int64');
      expect(BigInt(energy.value as string)).toBeGreaterThan(2n ** 53n);
      // A Bad status is forwarded, flagged, as the stream does by default.
      expect(messages[3]!.payload).toMatchObject({ quality: 'bad', status: 'BadSensorFailure' });
      // The next run reads again: new read time, other ids, same session.
      const next = await readAll(r, run());
      expect(next).toHaveLength(4);
      expect(next[0]!.time).toBeGreaterThan(readAt!);
    } finally {
      await r.close();
    }
  });

  it('drops bad values when badQuality says so, counted', async () => {
    const ctx = createFakeContext();
    const r = reader({ badQuality: 'drop' }, ctx);
    await r.connect(AbortSignal.timeout(20_000));
    try {
      const messages = await readAll(r, run());
      expect(messages.map((m) => m.meta['opcua.name'])).not.toContain('Plant/Samples/BadSensor');
      expect(messages).toHaveLength(3);
      expect(ctx.dropped).toEqual([{ count: 1, reason: 'bad quality' }]);
    } finally {
      await r.close();
    }
  });

  it('refuses a wrong password at connect, readably', async () => {
    const r = reader({ password: 'wrong' });
    const error = await r.connect(AbortSignal.timeout(20_000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(String((error as Error).message)).toMatch(/BadUserAccessDenied|user|identity/i);
    expect(String((error as Error).message)).not.toContain('wrong');
    await r.close();
  });

  it('fails a run while the server is gone, and reads again once it is back', async () => {
    const port = await freePort();
    let own = await startOpcuaSimulator({ port, pkiFolder: SERVER_PKI, interval: 60_000 });
    const ctx = createFakeContext();
    const r = opcuaSource.createReader!(
      opcuaSourceConfig.parse({
        url: own.endpointUrl,
        pkiFolder: clientPki('reader-restart'),
        nodes: [`${P}Setpoints.Mode`],
        reconnectDelay: '100ms',
        reconnectMaxDelay: '300ms',
      }),
      ctx,
    );
    try {
      await r.connect(AbortSignal.timeout(20_000));
      expect(await readAll(r, run())).toHaveLength(1);
      await own.close();
      await ctx.waitForState('reconnecting', 15_000);
      await expect(readAll(r, run())).rejects.toBeInstanceOf(NotConnectedError);
      own = await startOpcuaSimulator({ port, pkiFolder: SERVER_PKI, interval: 60_000 });
      await ctx.waitForState('connected', 20_000);
      expect(await readAll(r, run())).toHaveLength(1);
    } finally {
      await r.close();
      await own.close();
    }
  });
});

runReaderConformance('opcua', () => ({
  create: (ctx) =>
    opcuaSource.createReader!(
      opcuaSourceConfig.parse({
        url: sim.endpointUrl,
        username: 'operator',
        password: USERS.operator,
        pkiFolder: clientPki('reader-conformance'),
        trustedServerFingerprints: [sim.certificateFingerprint],
        nodes: NODES,
      }),
      ctx,
    ),
  window: { start: T - 3_600_000, end: T },
  times: 'snapshot',
  minMessages: 4,
}));
