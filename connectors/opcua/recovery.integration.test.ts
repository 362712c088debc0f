import { afterAll, describe, expect, it } from 'vitest';
import { createFakeContext, waitFor, type FakeContext } from '../../test/conformance/context.js';
import { freePort } from '../../test/harness/ports.js';
import { clientPki, SERVER_PKI } from '../../test/e2e/opcua-support.js';
import { startProxy } from '../../test/e2e/opcua-proxy.js';
import type { Message } from '../../src/sdk/index.js';
import { OpcuaSource, type OpcuaPayload } from './source.js';
import { opcuaSourceConfig } from './spec.js';
import { PLANT_NAMESPACE, startOpcuaSimulator, type RunningSimulator } from './simulator.js';

/**
 * Recovery without restarting passerelle: the server restarted (twice, with its namespaces
 * renumbered each time), the network cut silently (watchdog), the session closed by the server.
 * One server runs at a time.
 */
const running: RunningSimulator[] = [];
afterAll(async () => {
  for (const s of running) await s.close().catch(() => {});
});

async function start(port: number, decoyNamespaces: string[] = []): Promise<RunningSimulator> {
  const sim = await startOpcuaSimulator({ port, pkiFolder: SERVER_PKI, interval: 100, decoyNamespaces });
  running.push(sim);
  return sim;
}

async function stop(sim: RunningSimulator): Promise<void> {
  await sim.close();
  running.splice(running.indexOf(sim), 1);
}

/** Reads in the background, acking, so the test can watch what arrives while it breaks things. */
function reader(source: OpcuaSource): { messages: Message[]; stop(): void } {
  const messages: Message[] = [];
  const abort = new AbortController();
  void (async () => {
    while (!abort.signal.aborted) {
      const d = await source.read(abort.signal);
      if (!d) break;
      messages.push(...d.messages);
      d.ack();
    }
  })();
  return { messages, stop: () => abort.abort() };
}

const metric = async (ctx: FakeContext, pattern: RegExp): Promise<number> => {
  const m = pattern.exec(await ctx.registry.metrics());
  return m ? Number(m[1]) : 0;
};

describe('opcua source recovery', () => {
  it('resumes after the server is restarted twice, re-resolving nsu= and browse path nodes in renumbered namespaces', async () => {
    const port = await freePort();
    let sim = await start(port);
    const firstIndex = sim.namespaceIndex;
    const ctx = createFakeContext();
    const source = new OpcuaSource(
      opcuaSourceConfig.parse({
        url: sim.endpointUrl,
        pkiFolder: clientPki('recovery'),
        publishingInterval: '100ms',
        reconnectDelay: '200ms',
        reconnectMaxDelay: '1s',
        nodes: [
          { nodeId: `nsu=${PLANT_NAMESPACE};s=Line1.Temperature`, name: 'byUri' },
          { browsePath: 'Plant/Line1/Pressure', name: 'byPath' },
        ],
      }),
      ctx,
    );
    await source.connect(AbortSignal.timeout(20_000));
    const r = reader(source);
    const fresh = (after: number, name: string): Message[] =>
      r.messages.filter((m) => m.meta['opcua.name'] === name && Date.now() >= after && m.time >= after);
    try {
      await waitFor(() => fresh(0, 'byUri').length > 0 && fresh(0, 'byPath').length > 0, 'first values');
      for (const decoys of [['urn:decoy:a'], ['urn:decoy:b', 'urn:decoy:a']]) {
        await stop(sim);
        await ctx.waitForState('reconnecting', 10_000);
        const gapStart = Date.now();
        sim = await start(port, decoys);
        // The plant namespace moved: a stale index would now read the decoy (-999).
        expect(sim.namespaceIndex).not.toBe(firstIndex);
        await waitFor(
          () => fresh(gapStart, 'byUri').length > 0 && fresh(gapStart, 'byPath').length > 0,
          'values after the restart',
          20_000,
        );
        for (const m of fresh(gapStart, 'byUri')) {
          expect(m.meta['opcua.nodeId']).toBe(`nsu=${PLANT_NAMESPACE};s=Line1.Temperature`);
          expect((m.payload as OpcuaPayload).value).not.toBe(-999);
        }
        for (const m of fresh(gapStart, 'byPath'))
          expect(m.meta['opcua.nodeId']).toBe(`nsu=${PLANT_NAMESPACE};s=Line1.Pressure`);
        expect(ctx.state).toBe('connected');
      }
      expect(
        await metric(
          ctx,
          /passerelle_opcua_reconnects_total\{[^}]*reason="connection (?:lost|closed)"[^}]*\} (\d+)/,
        ),
      ).toBeGreaterThanOrEqual(2);
      // The gap is visible: seconds without a session.
      expect(
        await metric(ctx, /passerelle_opcua_disconnected_seconds_total\{[^}]*\} ([\d.e-]+)/),
      ).toBeGreaterThan(0);
      expect(await metric(ctx, /passerelle_opcua_connected\{[^}]*\} (\d+)/)).toBe(1);
    } finally {
      r.stop();
      await source.close();
      await stop(sim);
    }
  });

  it('the watchdog reconnects when the network is cut silently, and data resumes when it is back', async () => {
    const sim = await start(0);
    const proxy = await startProxy(sim.port);
    const ctx = createFakeContext();
    const source = new OpcuaSource(
      opcuaSourceConfig.parse({
        url: `opc.tcp://127.0.0.1:${proxy.port}/passerelle/simulator`,
        pkiFolder: clientPki('recovery'),
        publishingInterval: '100ms',
        watchdog: '2s',
        connectTimeout: '1s',
        reconnectDelay: '200ms',
        reconnectMaxDelay: '1s',
        nodes: [`nsu=${PLANT_NAMESPACE};s=Line1.PartsProduced`],
      }),
      ctx,
    );
    await source.connect(AbortSignal.timeout(20_000));
    const r = reader(source);
    try {
      await waitFor(() => r.messages.length > 0, 'first values');
      proxy.cut();
      await ctx.waitForState('reconnecting', 10_000);
      expect(ctx.states.find((s) => s.state === 'reconnecting')?.error?.message).toMatch(
        /watchdog.*no data and no keep-alive/,
      );
      expect(
        await metric(ctx, /passerelle_opcua_reconnects_total\{[^}]*reason="watchdog"[^}]*\} (\d+)/),
      ).toBe(1);
      // A few reconnection attempts into the void, counted (not a 1.5 s window).
      const failed = (): number =>
        ctx.logs.filter((l) => l.msg === 'OPC UA reconnection failed, retrying').length;
      await waitFor(() => failed() >= 2, 'two failed reconnection attempts', 20_000);
      const restoredAt = Date.now();
      proxy.restore();
      await waitFor(
        () => r.messages.some((m) => m.time > restoredAt),
        'values after the network is back',
        20_000,
      );
      expect(ctx.state).toBe('connected');
    } finally {
      r.stop();
      await source.close();
      await proxy.close();
      await stop(sim);
    }
  });

  it('recovers when the server closes the session', async () => {
    const sim = await start(0);
    const ctx = createFakeContext();
    const source = new OpcuaSource(
      opcuaSourceConfig.parse({
        url: sim.endpointUrl,
        pkiFolder: clientPki('recovery'),
        publishingInterval: '100ms',
        watchdog: '2s',
        reconnectDelay: '200ms',
        nodes: [`nsu=${PLANT_NAMESPACE};s=Line1.PartsProduced`],
      }),
      ctx,
    );
    await source.connect(AbortSignal.timeout(20_000));
    const r = reader(source);
    try {
      await waitFor(() => r.messages.length > 0, 'first values');
      const engine = sim.server.engine;
      for (const session of engine.getSessions())
        engine.closeSession(session.authenticationToken, true, 'Terminated');
      const closedAt = Date.now();
      await ctx.waitForState('reconnecting', 10_000);
      await waitFor(() => r.messages.some((m) => m.time > closedAt + 200), 'values on a new session', 20_000);
      expect(engine.currentSessionCount).toBe(1);
    } finally {
      r.stop();
      await source.close();
      await stop(sim);
    }
  });
});
