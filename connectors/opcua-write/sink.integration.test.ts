import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BatchError,
  FatalError,
  NotConnectedError,
  createMessage,
  type Message,
} from '../../src/sdk/index.js';
import { createFakeContext, waitFor } from '../../test/conformance/context.js';
import { freePort } from '../../test/harness/ports.js';
import { clientPki, SERVER_PKI } from '../../test/e2e/opcua-support.js';
import { OpcuaWriteSink } from './sink.js';
import { opcuaWriteSinkConfig } from './spec.js';
import { PLANT_NAMESPACE, startOpcuaSimulator, type RunningSimulator } from '../opcua/simulator.js';
import { loadOpcua } from '../opcua/connection.js';
import { variantToJson } from '../opcua/values.js';

/** The write sink against a real node-opcua server: values written are read back with a separate client. */
let sim: RunningSimulator;
let port: number;
const S = `nsu=${PLANT_NAMESPACE};s=Setpoints.`;

beforeAll(async () => {
  port = await freePort();
  sim = await startOpcuaSimulator({ port, pkiFolder: SERVER_PKI, interval: 60_000 });
  // A setpoint the "PLC" clamps to 100: the write succeeds, the value read back differs.
  const lib = await loadOpcua();
  const addressSpace = sim.server.engine.addressSpace!;
  let clamped = 0;
  addressSpace.getNamespace(PLANT_NAMESPACE).addVariable({
    organizedBy: addressSpace.rootFolder.objects,
    nodeId: 's=Setpoints.Clamped',
    browseName: 'Clamped',
    dataType: 'Double',
    accessLevel: 'CurrentRead | CurrentWrite',
    userAccessLevel: 'CurrentRead | CurrentWrite',
    minimumSamplingInterval: 100,
    value: {
      get: () => new lib.Variant({ dataType: lib.DataType.Double, value: clamped }),
      set: (variant: { value: number }) => {
        clamped = Math.min(100, variant.value);
        return lib.StatusCodes.Good;
      },
    },
  });
});
afterAll(async () => {
  await sim?.close();
});

/** Reads the values of nodes with an independent client session. */
async function readValues(nodes: string[]): Promise<unknown[]> {
  const lib = await loadOpcua();
  const client = lib.OPCUAClient.create({
    endpointMustExist: false,
    connectionStrategy: { maxRetry: 1 },
    clientCertificateManager: new lib.OPCUACertificateManager({ rootFolder: clientPki('sink-reader') }),
  });
  await client.connect(sim.endpointUrl);
  try {
    const session = await client.createSession();
    const ns = (await session.readNamespaceArray()).indexOf(PLANT_NAMESPACE);
    const values = await session.read(
      nodes.map((node) => ({
        nodeId: node.replace(`nsu=${PLANT_NAMESPACE};`, `ns=${ns};`),
        attributeId: lib.AttributeIds.Value,
      })),
    );
    await session.close();
    return values.map((dv) => variantToJson(dv.value));
  } finally {
    await client.disconnect();
  }
}

const readValue = async (node: string): Promise<unknown> => (await readValues([node]))[0];

const message = (topic: string, payload: unknown, i = 0): Message =>
  createMessage({ id: `m${i}`, payload, meta: { 'mqtt.topic': topic } });

function sink(overrides: Record<string, unknown> = {}, ctx = createFakeContext()): OpcuaWriteSink {
  return new OpcuaWriteSink(
    opcuaWriteSinkConfig.parse({
      url: sim.endpointUrl,
      pkiFolder: clientPki('sink-test'),
      nodeId: `${S}{{ topic[2] }}`,
      value: 'payload.value',
      reconnectDelay: '200ms',
      reconnectMaxDelay: '1s',
      ...overrides,
    }),
    ctx,
  );
}

describe('opcua-write sink', () => {
  it('writes values of several data types, converted to each node type, and they read back', async () => {
    const s = sink({ readBack: true });
    await s.connect(AbortSignal.timeout(20_000));
    const writes: [string, unknown, unknown][] = [
      ['TargetTemperature', '81.25', 81.25], // text -> Double
      ['TargetSpeed', 1500.5, 1500.5], // Float
      ['BatchSize', 250, 250], // Int32
      ['Enabled', 'false', false], // Boolean from text
      ['Mode', 'manual', 'manual'],
      ['TotalLimit', '9007199254740993', '9007199254740993'], // Int64 beyond 2^53, exact
      ['Recipe', { text: 'winter', locale: 'fr' }, { text: 'winter', locale: 'fr' }],
      ['Profile', [1, 2.5, '4'], [1, 2.5, 4]],
      ['StartAt', '2026-12-01T07:30:00.000Z', '2026-12-01T07:30:00.000Z'],
    ];
    await s.write(
      writes.map(([name, value], i) => message(`plant/setpoints/${name}`, { value }, i)),
      AbortSignal.timeout(20_000),
    );
    const values = await readValues(writes.map(([name]) => `${S}${name}`));
    writes.forEach(([name, , expected], i) => expect(values[i], name).toEqual(expected));
    await s.close();
  });

  it('dead-letters a write to a read-only node with the status code, an impossible conversion and a malformed node id; the rest is written', async () => {
    const s = sink({ nodeId: '{{ payload.node }}' });
    await s.connect(AbortSignal.timeout(20_000));
    const batch = [
      message('x', { node: `${S}SerialNumber`, value: 'HACKED' }, 0),
      message('x', { node: `${S}BatchSize`, value: 3.5 }, 1),
      message('x', { node: `${S}BatchSize`, value: 99999999999 }, 2),
      message('x', { node: 'ns=2;q=broken', value: 1 }, 3),
      message('x', { node: `${S}DoesNotExist`, value: 1 }, 4),
      message('x', { node: `${S}BatchSize`, value: 42 }, 5),
    ];
    const error = await s.write(batch, AbortSignal.timeout(20_000)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BatchError);
    const failures = (error as BatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([0, 1, 2, 3, 4]);
    for (const f of failures) expect(f.error).toBeInstanceOf(FatalError);
    const reasons = failures.map((f) => f.error.message);
    expect(reasons[0]).toMatch(/BadNotWritable \(0x803b0000\)/);
    expect(reasons[1]).toMatch(/Int32.*3\.5.*not an integer/);
    expect(reasons[2]).toMatch(/out of the range of Int32/);
    expect(reasons[3]).toMatch(/is not a NodeId/);
    expect(reasons[4]).toMatch(/does not exist/);
    expect(await readValues([`${S}BatchSize`, `${S}SerialNumber`])).toEqual([42, 'SIM-0001']);
    await s.close();
  });

  it('with readBack, dead-letters a value the server did not keep', async () => {
    const s = sink({ readBack: true });
    await s.connect(AbortSignal.timeout(20_000));
    const batch = [message('p/s/Clamped', { value: 150 }, 0), message('p/s/BatchSize', { value: 5 }, 1)];
    const error = await s.write(batch, AbortSignal.timeout(20_000)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(BatchError);
    const failures = (error as BatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([0]);
    expect(failures[0]!.error).toBeInstanceOf(FatalError);
    expect(failures[0]!.error.message).toMatch(/read-back of .*Clamped: wrote 150, the server holds 100/);
    await s.close();
  });

  it('fails fast with NotConnectedError while the server is down, and writes again once it is back', async () => {
    const ctx = createFakeContext();
    const s = sink({}, ctx);
    await s.connect(AbortSignal.timeout(20_000));
    await sim.close();
    try {
      await waitFor(() => ctx.state === 'reconnecting', 'the sink to notice the outage');
      // Rejected while the server is still down, before the write's own signal would end a wait:
      // failing fast shown by order, not by a few-ms bound a loaded machine breaks.
      await expect(
        Promise.race([
          s.write([message('p/s/BatchSize', { value: 7 })], AbortSignal.timeout(60_000)),
          new Promise((resolve) => setTimeout(resolve, 5_000, 'still waiting for the server')),
        ]),
      ).rejects.toBeInstanceOf(NotConnectedError);
    } finally {
      sim = await startOpcuaSimulator({ port, pkiFolder: SERVER_PKI, interval: 60_000 });
    }
    await waitFor(
      async () => {
        try {
          await s.write([message('p/s/BatchSize', { value: 8 })], AbortSignal.timeout(5000));
          return true;
        } catch (error) {
          if (!(error instanceof NotConnectedError)) throw error;
          return false;
        }
      },
      'a write after the restart',
      20_000,
      200,
    );
    expect(await readValue(`${S}BatchSize`)).toBe(8);
    await s.close();
  });
});
