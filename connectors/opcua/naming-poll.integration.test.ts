import { afterAll, describe, expect, it } from 'vitest';
import { createFakeContext, waitFor } from '../../test/conformance/context.js';
import { clientPki, collect, SERVER_PKI } from '../../test/e2e/opcua-support.js';
import { freePort } from '../../test/harness/ports.js';
import type { Message } from '../../src/sdk/index.js';
import type { Run } from '../../src/sdk/index.js';
import { opcuaSource } from './index.js';
import { OpcuaSource, type OpcuaPayload } from './source.js';
import { opcuaSourceConfig } from './spec.js';
import { PLANT_NAMESPACE, startOpcuaSimulator, type RunningSimulator } from './simulator.js';

/** Poll-mode timestamps and ids, names of NodeId nodes, and namespace reordering under plain ns= NodeIds. */
const P = `nsu=${PLANT_NAMESPACE};s=`;
const running = new Set<RunningSimulator>();
afterAll(async () => {
  for (const s of running) await s.close().catch(() => {});
});
async function start(port = 0, decoyNamespaces: string[] = []): Promise<RunningSimulator> {
  const sim = await startOpcuaSimulator({ port, pkiFolder: SERVER_PKI, interval: 200, decoyNamespaces });
  running.add(sim);
  return sim;
}
async function stop(sim: RunningSimulator): Promise<void> {
  running.delete(sim);
  await sim.close();
}

function reader(source: OpcuaSource): { messages: Message[]; stop(): void } {
  const messages: Message[] = [];
  const abort = new AbortController();
  void (async () => {
    while (!abort.signal.aborted) {
      const d = await source.read(abort.signal).catch(() => null);
      if (!d) break;
      messages.push(...d.messages);
      d.ack();
    }
  })();
  return { messages, stop: () => abort.abort() };
}

describe('opcua source: poll series, names, namespace changes', () => {
  it('poll mode stamps each read with the read time, keeps the source timestamp in the payload, and ids stay unique across reconnects', async () => {
    const port = await freePort();
    let sim = await start(port);
    const ctx = createFakeContext();
    const source = new OpcuaSource(
      opcuaSourceConfig.parse({
        url: sim.endpointUrl,
        pkiFolder: clientPki('poll-series'),
        mode: 'poll',
        pollInterval: '200ms',
        reconnectDelay: '200ms',
        nodes: [`${P}Setpoints.Mode`],
      }),
      ctx,
    );
    await source.connect(AbortSignal.timeout(20_000));
    const r = reader(source);
    try {
      const started = Date.now();
      await waitFor(() => r.messages.length >= 3, 'three polls');
      const first = r.messages.slice(0, 3);
      // The value does not change: one source timestamp, three points in time.
      const sourceTimes = new Set(first.map((m) => (m.payload as OpcuaPayload).sourceTimestamp));
      expect(sourceTimes.size).toBe(1);
      expect(first[1]!.time).toBeGreaterThan(first[0]!.time);
      expect(first[2]!.time).toBeGreaterThan(first[1]!.time);
      expect(first[0]!.time).toBeGreaterThanOrEqual(started - 1000);
      expect(first[0]!.time).not.toBe(Date.parse([...sourceTimes][0]!));

      // A restarted server: a new session, new node states; the ids must not repeat.
      await stop(sim);
      await ctx.waitForState('reconnecting', 10_000);
      sim = await start(port);
      const closedAt = Date.now();
      await waitFor(
        () => r.messages.filter((m) => m.time > closedAt).length >= 3,
        'polls on a new session',
        20_000,
      );
      const ids = r.messages.map((m) => m.id);
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      r.stop();
      await source.close();
      await stop(sim);
    }
  });

  it('names a NodeId node by its browse path, so the same display name in two folders does not collide', async () => {
    const sim = await start();
    const ctx = createFakeContext();
    const source = new OpcuaSource(
      opcuaSourceConfig.parse({
        url: sim.endpointUrl,
        pkiFolder: clientPki('naming'),
        publishingInterval: '100ms',
        nodes: [
          `${P}Line1.Temperature`,
          `ns=${sim.namespaceIndex};s=Line2.Temperature`,
          'i=2258', // Server/ServerStatus/CurrentTime, in namespace 0
          { nodeId: `${P}Line1.Pressure`, name: 'P' },
          { nodeId: `${P}Line2.Pressure`, name: 'P' },
        ],
      }),
      ctx,
    );
    await source.connect(AbortSignal.timeout(20_000));
    try {
      const messages = await collect(source, (ms) => new Set(ms.map((m) => m.meta['opcua.name'])).size >= 4);
      const names = new Set(messages.map((m) => m.meta['opcua.name']));
      expect(names).toEqual(
        new Set([
          'Plant/Line1/Temperature',
          'Plant/Line2/Temperature',
          'Server/ServerStatus/CurrentTime',
          'P',
        ]),
      );
      const t1 = messages.find((m) => m.meta['opcua.name'] === 'Plant/Line1/Temperature')!;
      expect(t1.meta['opcua.browsePath']).toBe('Plant/Line1/Temperature');
      expect(t1.meta['opcua.displayName']).toBe('Temperature');
      expect((t1.payload as OpcuaPayload).node).toBe('Plant/Line1/Temperature');
      // Names given by the user that collide are reported.
      const warnings = ctx.logs.filter((l) => l.level === 'warn').map((l) => String(l.msg));
      expect(warnings.join('\n')).toMatch(/names collide: .*Line1\.Pressure.*Line2\.Pressure.*"P"/);
    } finally {
      await source.close();
      await stop(sim);
    }
  });

  it('warns when the namespace behind a plain ns= index changed between connects, suggesting nsu=', async () => {
    const port = await freePort();
    let sim = await start(port);
    const index = sim.namespaceIndex;
    const ctx = createFakeContext();
    const source = new OpcuaSource(
      opcuaSourceConfig.parse({
        url: sim.endpointUrl,
        pkiFolder: clientPki('ns-change'),
        publishingInterval: '100ms',
        reconnectDelay: '200ms',
        reconnectMaxDelay: '1s',
        nodes: [`ns=${index};s=Line1.Temperature`, `${P}Line1.Pressure`],
      }),
      ctx,
    );
    await source.connect(AbortSignal.timeout(20_000));
    const r = reader(source);
    try {
      await waitFor(() => r.messages.length > 0, 'first values');
      const warned = (): string[] =>
        ctx.logs
          .filter((l) => l.level === 'warn' && /namespace changed/.test(String(l.msg)))
          .map((l) => String(l.msg));
      expect(warned()).toEqual([]);
      await stop(sim);
      await ctx.waitForState('reconnecting', 10_000);
      sim = await start(port, ['urn:decoy:a']);
      await waitFor(() => warned().length > 0, 'the warning', 20_000);
      expect(warned()[0]).toContain(`namespace ${index} was "${PLANT_NAMESPACE}"`);
      expect(warned()[0]).toContain('"urn:decoy:a"');
      expect(warned()[0]).toContain(`nsu=${PLANT_NAMESPACE};s=Line1.Temperature`);
      // The nsu= node is not named in the warning: it followed the change.
      expect(warned()[0]).not.toContain('Pressure');
    } finally {
      r.stop();
      await source.close();
      await stop(sim);
    }
  });
  it('ids and opcua.nodeId name the namespace URI, so they stay the same when the server reorders its namespaces (stream and tick)', async () => {
    const port = await freePort();
    let sim = await start(port);
    const nodes = [`${P}Setpoints.Mode`, { browsePath: 'Plant/Line1/Pressure' }];
    const settings = {
      pkiFolder: clientPki('ns-identity'),
      publishingInterval: '100ms',
      reconnectDelay: '200ms',
      reconnectMaxDelay: '1s',
      nodes,
    };
    const ctx = createFakeContext();
    const source = new OpcuaSource(opcuaSourceConfig.parse({ url: sim.endpointUrl, ...settings }), ctx);
    const run: Run = {
      id: 'shift@2026-12-05T14:00:00.000Z',
      pipeline: 'shift',
      window: { start: Date.UTC(2026, 11, 5, 6), end: Date.UTC(2026, 11, 5, 14) },
      scheduledAt: Date.UTC(2026, 11, 5, 14),
      attempt: 1,
      timeZone: 'UTC',
    };
    /** One run read on a fresh connection (as a rerun on another replica would). */
    const readRun = async (): Promise<Message[]> => {
      const r = opcuaSource.createReader!(
        opcuaSourceConfig.parse({ url: sim.endpointUrl, ...settings }),
        createFakeContext(),
      );
      await r.connect(AbortSignal.timeout(20_000));
      try {
        const out: Message[] = [];
        for await (const b of r.read(run, AbortSignal.timeout(20_000))) out.push(...b);
        return out;
      } finally {
        await r.close();
      }
    };
    const identity = (messages: Message[]) =>
      [
        ...new Set(messages.map((m) => `${m.id.replace(/@.*$/, '')} ${String(m.meta['opcua.nodeId'])}`)),
      ].sort();
    const expected = [
      `nsu=${PLANT_NAMESPACE};s=Line1.Pressure nsu=${PLANT_NAMESPACE};s=Line1.Pressure`,
      `nsu=${PLANT_NAMESPACE};s=Setpoints.Mode nsu=${PLANT_NAMESPACE};s=Setpoints.Mode`,
    ];
    await source.connect(AbortSignal.timeout(20_000));
    const r = reader(source);
    try {
      const ranBefore = await readRun();
      await waitFor(() => identity(r.messages).length === 2, 'a value of both nodes');
      expect(identity(r.messages)).toEqual(expected);

      // The server restarts with one more namespace before the plant's: its index moves.
      const index = sim.namespaceIndex;
      await stop(sim);
      await ctx.waitForState('reconnecting', 10_000);
      sim = await start(port, ['urn:decoy:a']);
      expect(sim.namespaceIndex).not.toBe(index);
      const seen = r.messages.length;
      await waitFor(() => identity(r.messages.slice(seen)).length === 2, 'values after the restart', 20_000);
      expect(identity(r.messages.slice(seen))).toEqual(expected);

      // A rerun of the same run reads under the same ids.
      const ranAfter = await readRun();
      expect(ranAfter.map((m) => [m.id, m.meta['opcua.nodeId']])).toEqual(
        ranBefore.map((m) => [m.id, m.meta['opcua.nodeId']]),
      );
      expect(ranAfter.map((m) => m.id)).toEqual([
        `${run.id}/nsu=${PLANT_NAMESPACE};s=Setpoints.Mode`,
        `${run.id}/nsu=${PLANT_NAMESPACE};s=Line1.Pressure`,
      ]);
    } finally {
      r.stop();
      await source.close();
      await stop(sim);
    }
  });
});
