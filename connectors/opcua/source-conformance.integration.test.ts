import { afterAll, beforeAll } from 'vitest';
import { sourceConformance } from '../../test/conformance/source.js';
import { clientPki, SERVER_PKI } from '../../test/e2e/opcua-support.js';
import { loadOpcua } from './connection.js';
import { OpcuaSource, type OpcuaPayload } from './source.js';
import { opcuaSourceConfig } from './spec.js';
import { PLANT_NAMESPACE, startOpcuaSimulator, type RunningSimulator } from './simulator.js';

/**
 * The shared source suite on an OPC UA subscription: each identity is a String variable of its own
 * on a real node-opcua server, `produce()` sets its value after value (each held for a few sampling
 * intervals), with a queue deep enough to keep every change. A subscription reports the node's
 * current value first (not produced data), has no acks towards the server (best effort) and can
 * not be paused, so past maxQueuedValues it drops and counts.
 */
let sim: RunningSimulator | undefined;
const INITIAL = '(initial)';
const variables = new Map<string, { setValueFromSource(v: unknown): void }>();

beforeAll(async () => {
  sim = await startOpcuaSimulator({ port: 0, pkiFolder: SERVER_PKI, interval: 60_000 });
});
afterAll(async () => {
  await sim?.close();
});

async function variable(identity: string): Promise<{ setValueFromSource(v: unknown): void }> {
  const existing = variables.get(identity);
  if (existing) return existing;
  const lib = await loadOpcua();
  const addressSpace = sim!.server.engine.addressSpace!;
  const made = addressSpace.getNamespace(PLANT_NAMESPACE).addVariable({
    organizedBy: addressSpace.rootFolder.objects,
    nodeId: `s=Conformance.${identity}`,
    browseName: `Conformance.${identity}`,
    dataType: 'String',
    minimumSamplingInterval: 10,
    value: new lib.Variant({ dataType: lib.DataType.String, value: INITIAL }),
  });
  variables.set(identity, made);
  return made;
}

sourceConformance(
  'opcua (subscription)',
  () => ({
    create: (ctx, identity) => {
      // The node must exist before the source subscribes: made here, synchronously on first use.
      const lazy = variable(identity);
      const source = new OpcuaSource(
        opcuaSourceConfig.parse({
          url: sim!.endpointUrl,
          pkiFolder: clientPki('source-conformance'),
          nodes: [
            {
              nodeId: `nsu=${PLANT_NAMESPACE};s=Conformance.${identity}`,
              samplingInterval: '10ms',
              queueSize: 1000,
            },
          ],
          publishingInterval: '100ms',
          maxQueuedValues: 20,
        }),
        ctx,
      );
      return {
        connect: async (signal) => {
          await lazy;
          await source.connect(signal);
        },
        read: (signal) => source.read(signal),
        close: () => source.close(),
      };
    },
    produce: async (identity, values) => {
      const lib = await loadOpcua();
      const node = await variable(identity);
      for (const value of values) {
        node.setValueFromSource(new lib.Variant({ dataType: lib.DataType.String, value }));
        // Sampled every 10 ms: a value that lasts less than a sampling is never seen, as on a plant.
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    valueOf: (m) => String((m.payload as OpcuaPayload).value),
    notProduced: (m) => (m.payload as OpcuaPayload).value === INITIAL,
    maxUnacked: 20,
  }),
  { redelivers: false, overflow: 'drops' },
);
