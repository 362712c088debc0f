import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BatchError,
  FatalError,
  createMessage,
  decodeCayenneLpp,
  type Message,
} from '../../src/sdk/index.js';
import { createFakeContext, waitFor } from '../../test/conformance/context.js';
import { sinkConformance } from '../../test/conformance/sink.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';
import { chirpstackDownlinkSink } from './index.js';
import { ChirpstackDownlinkSink } from './sink.js';
import { chirpstackDownlinkConfig } from './spec.js';
import { TcpProxy } from '../../test/harness/tcp-proxy.js';

let broker: ServiceHandle;
let proxy: TcpProxy;
let watcher: MqttClient;
const seen: IPublishPacket[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
  proxy = new TcpProxy(broker.port);
  await proxy.start();
  watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  watcher.on('message', (_t, _p, packet) => seen.push(packet));
  await watcher.subscribeAsync('+/application/+/device/+/command/+', { qos: 1 });
});

afterAll(async () => {
  await watcher?.endAsync(true);
  await proxy?.stop();
  await broker?.dispose();
});

let n = 0;
const unique = (name: string): string => `${name}-${process.pid}-${++n}`;
const APP = '17c82e96-be03-4f38-aef3-f83d48582d97';

function sink(prefix: string, config: Record<string, unknown>, url = broker.url): ChirpstackDownlinkSink {
  const parsed = chirpstackDownlinkConfig.parse({
    url,
    topic: `${prefix}/application/{applicationId}/device/{devEui}/command/down`,
    reconnectDelay: '100ms',
    reconnectMaxDelay: '500ms',
    ...config,
  });
  return chirpstackDownlinkSink.create(parsed, createFakeContext()) as ChirpstackDownlinkSink;
}

const bodies = (prefix: string) =>
  seen
    .filter((p) => p.topic.startsWith(`${prefix}/`))
    .map((p) => ({ topic: p.topic, body: JSON.parse(p.payload.toString()) as Record<string, unknown> }));

const msg = (payload: unknown, meta: Record<string, unknown> = {}): Message =>
  createMessage({ id: String(Math.random()), payload, meta });

sinkConformance('chirpstack-downlink (QoS 1)', () => {
  const prefix = unique('conf');
  return {
    create: (ctx) =>
      chirpstackDownlinkSink.create(
        chirpstackDownlinkConfig.parse({
          url: `mqtt://127.0.0.1:${proxy.port}`,
          topic: `${prefix}/application/{applicationId}/device/{devEui}/command/down`,
          applicationId: APP,
          devEui: '0101010101010101',
          fPort: 10,
          encoder: 'hex',
          reconnectDelay: '100ms',
          reconnectMaxDelay: '500ms',
          writeTimeout: '20s',
        }),
        ctx,
      ),
    messages: (values) => values.map((v) => msg(Buffer.from(v).toString('hex'))),
    received: async () =>
      bodies(prefix).map(({ body }) => Buffer.from(body.data as string, 'base64').toString()),
    holdAcceptance: async () => proxy.pause(),
    releaseAcceptance: async () => proxy.resume(),
    stopTarget: () => proxy.stop(),
    startTarget: () => proxy.start(),
  };
});

describe('chirpstack-downlink sink', () => {
  it('publishes v4 commands: topic from the message, payload from bytes, Cayenne LPP, a byte layout or an object', async () => {
    const prefix = unique('down');
    const uplinkMeta = { 'chirpstack.applicationId': APP, 'chirpstack.devEui': '0101010101010101' };
    const lpp = sink(prefix, { fPort: 10, encoder: 'cayenne-lpp' });
    const raw = sink(prefix, {
      fPort: '{{ payload.port }}',
      confirmed: true,
      from: 'payload.frame',
      encoder: 'bytes',
    });
    const layout = sink(prefix, {
      applicationId: '{{ payload.app }}',
      devEui: '{{ payload.eui }}',
      fPort: 2,
      from: 'payload.set',
      encoder: {
        type: 'byte-layout',
        layout: [{ name: 'setpoint', offset: 0, type: 'int16be', scale: 0.1 }],
      },
    });
    const object = sink(prefix, { fPort: 3, encoder: 'chirpstack' });
    for (const s of [lpp, raw, layout, object]) await s.connect(AbortSignal.timeout(10_000));
    const signal = AbortSignal.timeout(10_000);
    await lpp.write([msg({ digitalOutput: { '1': 1 }, analogOutput: { '2': -1.5 } }, uplinkMeta)], signal);
    await raw.write([msg({ port: 5, frame: Buffer.from([0xca, 0xfe]) }, uplinkMeta)], signal);
    await layout.write([msg({ app: APP, eui: 'AABBCCDDEEFF0011', set: { setpoint: -12.5 } })], signal);
    await object.write([msg({ mode: 'eco' }, uplinkMeta)], signal);
    await waitFor(() => bodies(prefix).length === 4, 'four commands');
    const topic = (eui: string) => `${prefix}/application/${APP}/device/${eui}/command/down`;
    expect(bodies(prefix)).toEqual([
      {
        topic: topic('0101010101010101'),
        body: { devEui: '0101010101010101', confirmed: false, fPort: 10, data: 'AQEBAgP/ag==' },
      },
      {
        topic: topic('0101010101010101'),
        body: { devEui: '0101010101010101', confirmed: true, fPort: 5, data: 'yv4=' },
      },
      {
        topic: topic('aabbccddeeff0011'),
        body: {
          devEui: 'aabbccddeeff0011',
          confirmed: false,
          fPort: 2,
          data: Buffer.from([0xff, 0x83]).toString('base64'),
        },
      },
      {
        topic: topic('0101010101010101'),
        body: { devEui: '0101010101010101', confirmed: false, fPort: 3, object: { mode: 'eco' } },
      },
    ]);
    expect(decodeCayenneLpp(Buffer.from('AQEBAgP/ag==', 'base64'))).toEqual({
      digitalOutput: { '1': 1 },
      analogOutput: { '2': -1.5 },
    });
    for (const s of [lpp, raw, layout, object]) await s.close();
  });

  it('v3 commands have no devEui in the body', async () => {
    const prefix = unique('v3');
    const s = sink(prefix, {
      chirpstackVersion: 'v3',
      applicationId: '123',
      devEui: '0202020202020202',
      fPort: 1,
      encoder: 'base64',
    });
    await s.connect(AbortSignal.timeout(10_000));
    await s.write([msg('AQI=')], AbortSignal.timeout(10_000));
    await waitFor(() => bodies(prefix).length === 1, 'the command');
    expect(bodies(prefix)[0]).toEqual({
      topic: `${prefix}/application/123/device/0202020202020202/command/down`,
      body: { confirmed: false, fPort: 1, data: 'AQI=' },
    });
    await s.close();
  });

  it('fails each bad message alone with a FatalError; the rest are published', async () => {
    const prefix = unique('bad');
    const s = sink(prefix, {
      applicationId: APP,
      devEui: '{{ payload.eui }}',
      fPort: '{{ payload.port }}',
      from: 'payload.v',
      encoder: 'cayenne-lpp',
    });
    await s.connect(AbortSignal.timeout(10_000));
    const good = { eui: '0101010101010101', port: 1, v: { digitalOutput: { '1': 0 } } };
    const batch = [
      msg(good),
      msg({ ...good, eui: undefined }),
      msg({ ...good, eui: '0101' }),
      msg({ ...good, port: 0 }),
      msg({ ...good, v: { thermostat: { '1': 3 } } }),
      msg({ ...good, v: { temperatureSensor: { '1': 9999 } } }),
      msg({
        ...good,
        v: { digitalOutput: Object.fromEntries(Array.from({ length: 100 }, (_, i) => [String(i), 1])) },
      }),
      msg({ ...good, port: 2 }),
    ];
    const error = await s.write(batch, AbortSignal.timeout(10_000)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BatchError);
    const failures = (error as BatchError).failures;
    expect(failures.map((f) => f.index)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(failures.every((f) => f.error instanceof FatalError)).toBe(true);
    expect(failures.map((f) => f.error.message)).toEqual([
      expect.stringMatching(/is missing in message/),
      expect.stringMatching(/devEui "0101" .* is not 16 hex characters/),
      expect.stringMatching(/fPort "0" is not an integer 1..223/),
      expect.stringMatching(/unknown type key "thermostat"/),
      expect.stringMatching(/temperatureSensor.1 = 9999 is out of range/),
      expect.stringMatching(/downlink of 300 bytes: no LoRaWAN data rate carries more than 242/),
    ]);
    await waitFor(() => bodies(prefix).length === 2, 'the two good commands');
    expect(bodies(prefix).map((b) => b.body.fPort)).toEqual([1, 2]);
    await s.close();
  });

  it('refuses a config without fPort, or a command topic without {devEui}', () => {
    expect(chirpstackDownlinkConfig.safeParse({ url: 'mqtt://h' }).success).toBe(false);
    const r = chirpstackDownlinkConfig.safeParse({
      url: 'mqtt://h',
      fPort: 1,
      topic: 'application/{applicationId}/down',
    });
    expect(r.error?.issues[0]?.message).toMatch(/needs \{applicationId\} and \{devEui\}/);
    expect(chirpstackDownlinkConfig.parse({ url: 'mqtt://h', fPort: 1 })).toMatchObject({
      topic: 'application/{applicationId}/device/{devEui}/command/down',
      applicationId: '{{ meta.chirpstack.applicationId }}',
      devEui: '{{ meta.chirpstack.devEui }}',
      encoder: { type: 'bytes' },
      qos: 1,
    });
  });
});
