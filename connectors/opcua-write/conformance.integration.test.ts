import { afterAll, beforeAll } from 'vitest';
import { createMessage } from '../../src/sdk/index.js';
import { sinkConformance } from '../../test/conformance/sink.js';
import { freePort } from '../../test/harness/ports.js';
import { clientPki, SERVER_PKI } from '../../test/e2e/opcua-support.js';
import { startProxy, type CuttableProxy } from '../../test/e2e/opcua-proxy.js';
import { loadOpcua } from '../opcua/connection.js';
import { PLANT_NAMESPACE, startOpcuaSimulator, type RunningSimulator } from '../opcua/simulator.js';
import { OpcuaWriteSink, opcuaWriteSinkConfig } from './index.js';

/**
 * The shared sink suite on opcua-write: the target is a String variable whose setter records every
 * value written; a relay in front holds the server's answers (acceptance held) on demand.
 */
let sim: RunningSimulator | undefined;
let port: number;
let proxy: CuttableProxy;
const written: string[] = [];
let stopping: Promise<void> | undefined;

async function startTarget(): Promise<void> {
  const lib = await loadOpcua();
  sim = await startOpcuaSimulator({ port, pkiFolder: SERVER_PKI, interval: 60_000 });
  const addressSpace = sim.server.engine.addressSpace!;
  const ns = addressSpace.getNamespace(PLANT_NAMESPACE);
  ns.addVariable({
    organizedBy: addressSpace.rootFolder.objects,
    nodeId: 's=Recorder',
    browseName: 'Recorder',
    dataType: 'String',
    accessLevel: 'CurrentRead | CurrentWrite',
    userAccessLevel: 'CurrentRead | CurrentWrite',
    minimumSamplingInterval: 100,
    value: {
      get: () => new lib.Variant({ dataType: lib.DataType.String, value: written.at(-1) ?? '' }),
      set: (variant: { value: unknown }) => {
        written.push(String(variant.value));
        return lib.StatusCodes.Good;
      },
    },
  });
}

beforeAll(async () => {
  port = await freePort();
  await startTarget();
  proxy = await startProxy(port);
});
afterAll(async () => {
  await proxy?.close();
  await sim?.close();
});

sinkConformance('opcua-write', () => ({
  create: (ctx) =>
    new OpcuaWriteSink(
      opcuaWriteSinkConfig.parse({
        url: `opc.tcp://127.0.0.1:${proxy.port}/passerelle/simulator`,
        pkiFolder: clientPki('conformance'),
        nodeId: `nsu=${PLANT_NAMESPACE};s=Recorder`,
        value: 'payload.value',
        reconnectDelay: '100ms',
        reconnectMaxDelay: '500ms',
        sessionTimeout: '10s',
      }),
      ctx,
    ),
  messages: (values) => values.map((value, i) => createMessage({ id: `c${i}`, payload: { value } })),
  received: () => Promise.resolve([...written]),
  holdAcceptance: () => Promise.resolve(proxy.hold()),
  heldAnswers: () => proxy.heldAnswers(),
  releaseAcceptance: () => Promise.resolve(proxy.release()),
  // Returns as soon as the shutdown has begun: the suite attaches its handler to a pending write
  // right after this resolves, and the sink notices a closed socket within milliseconds.
  stopTarget: () => {
    stopping = sim?.close();
    sim = undefined;
    return Promise.resolve();
  },
  startTarget: async () => {
    await stopping;
    if (!sim) await startTarget();
  },
}));
