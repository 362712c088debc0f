import integration from '@chirpstack/chirpstack-api/integration/integration_pb.js';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchError, FatalError, createMessage, type Message } from '../../src/sdk/index.js';
import { decodeCayenneLpp } from '../../src/sdk/codecs/index.js';
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
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

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
    heldAnswers: () => proxy.heldAnswers,
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
    const ids = bodies(prefix).map(({ body }) => body.id);
    expect(new Set(ids).size).toBe(4);
    for (const id of ids) expect(id).toMatch(UUID);
    expect(bodies(prefix).map(({ topic, body: { id: _, ...body } }) => ({ topic, body }))).toEqual([
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

/* eslint-disable @typescript-eslint/no-explicit-any -- google-protobuf ships no type declarations */
/** What ChirpStack reads from a Protobuf command, decoded with ChirpStack's generated code. */
function downlinkCommand(payload: Buffer) {
  const cmd: any = integration.DownlinkCommand.deserializeBinary(new Uint8Array(payload));
  return {
    id: cmd.getId() as string,
    devEui: cmd.getDevEui() as string,
    confirmed: cmd.getConfirmed() as boolean,
    fPort: cmd.getFPort() as number,
    data: cmd.getData_asB64() as string,
    object: cmd.hasObject() ? (cmd.getObject().toJavaScript() as unknown) : undefined,
    expiresAt: cmd.hasExpiresAt() ? (cmd.getExpiresAt().toDate() as Date).toISOString() : undefined,
  };
}
const raw = (prefix: string) => seen.filter((p) => p.topic.startsWith(`${prefix}/`));
const msgAt = (id: string, payload: unknown, time: number, meta: Record<string, unknown> = {}): Message =>
  createMessage({ id, payload, meta, time });

describe('chirpstack-downlink: Protobuf commands, command ids and expiry', () => {
  const T = Date.parse('2024-07-18T09:34:15.775Z');

  it('encoding protobuf publishes integration.DownlinkCommand, read back by ChirpStack API code', async () => {
    const prefix = unique('proto');
    const frames = sink(prefix, {
      applicationId: APP,
      devEui: '{{ payload.eui }}',
      fPort: 10,
      confirmed: true,
      from: 'payload.hex',
      encoder: 'hex',
      encoding: 'protobuf',
      expiresAfter: '10m',
    });
    const objects = sink(prefix, {
      applicationId: APP,
      devEui: '0101010101010101',
      fPort: 3,
      encoder: 'chirpstack',
      encoding: 'protobuf',
      expiresAt: '{{ payload.until }}',
    });
    await frames.connect(AbortSignal.timeout(10_000));
    await objects.connect(AbortSignal.timeout(10_000));
    const object = {
      mode: 'eco',
      setpoint: 21.5,
      on: true,
      none: null,
      schedule: [{ at: '06:00', t: 19 }, 7, 'x'],
      nested: { deeper: { n: -1 } },
    };
    await frames.write(
      [msgAt('m-1', { eui: 'AABBCCDDEEFF0011', hex: 'cafe01' }, T)],
      AbortSignal.timeout(10_000),
    );
    await objects.write(
      [msgAt('m-2', { ...object, until: '2024-07-18T10:00:00.250Z' }, T)],
      AbortSignal.timeout(10_000),
    );
    await waitFor(() => raw(prefix).length === 2, 'two commands');
    const [first, second] = raw(prefix);
    expect(first?.topic).toBe(`${prefix}/application/${APP}/device/aabbccddeeff0011/command/down`);
    expect(downlinkCommand(first!.payload as Buffer)).toEqual({
      id: expect.stringMatching(UUID),
      devEui: 'aabbccddeeff0011',
      confirmed: true,
      fPort: 10,
      data: Buffer.from('cafe01', 'hex').toString('base64'),
      object: undefined,
      expiresAt: '2024-07-18T09:44:15.775Z',
    });
    expect(downlinkCommand(second!.payload as Buffer)).toEqual({
      id: expect.stringMatching(UUID),
      devEui: '0101010101010101',
      confirmed: false,
      fPort: 3,
      data: '',
      object: { ...object, until: '2024-07-18T10:00:00.250Z' },
      expiresAt: '2024-07-18T10:00:00.250Z',
    });
    await frames.close();
    await objects.close();
  });

  it('encoding auto answers a Protobuf uplink in Protobuf and a JSON one in JSON; json always JSON', async () => {
    const prefix = unique('auto');
    const uplink = (format: string) => ({
      'chirpstack.applicationId': APP,
      'chirpstack.devEui': '0101010101010101',
      'chirpstack.format': format,
    });
    const auto = sink(prefix, { fPort: 2, encoder: 'hex' });
    const json = sink(prefix, { fPort: 4, encoder: 'hex', encoding: 'json' });
    await auto.connect(AbortSignal.timeout(10_000));
    await json.connect(AbortSignal.timeout(10_000));
    await auto.write([msgAt('a-1', '01', T, uplink('v4-protobuf'))], AbortSignal.timeout(10_000));
    await auto.write([msgAt('a-2', '02', T, uplink('v4'))], AbortSignal.timeout(10_000));
    await json.write([msgAt('a-3', '03', T, uplink('v4-protobuf'))], AbortSignal.timeout(10_000));
    await waitFor(() => raw(prefix).length === 3, 'three commands');
    const [protobuf, fromJson, forced] = raw(prefix) as IPublishPacket[];
    expect(downlinkCommand(protobuf!.payload as Buffer)).toMatchObject({ fPort: 2, data: 'AQ==' });
    expect(JSON.parse(fromJson!.payload.toString())).toMatchObject({ fPort: 2, data: 'Ag==' });
    expect(JSON.parse(forced!.payload.toString())).toMatchObject({ fPort: 4, data: 'Aw==' });
    await auto.close();
    await json.close();
  });

  it('the command id is stable per message (a retried write repeats it), differs between messages and sinks; expiresAt in JSON', async () => {
    const prefix = unique('ids');
    const config = {
      applicationId: APP,
      devEui: '0101010101010101',
      fPort: 1,
      encoder: 'hex',
      expiresAfter: '1h',
    };
    const s = sink(prefix, config);
    const other = chirpstackDownlinkSink.create(
      chirpstackDownlinkConfig.parse({
        url: broker.url,
        topic: `${prefix}/application/{applicationId}/device/{devEui}/command/down`,
        ...config,
      }),
      { ...createFakeContext(), component: 'sinks[1]' },
    ) as ChirpstackDownlinkSink;
    const own = sink(prefix, { ...config, commandId: '{{ payload.request }}', from: 'payload.hex' });
    for (const x of [s, other, own]) await x.connect(AbortSignal.timeout(10_000));
    const signal = AbortSignal.timeout(10_000);
    await s.write([msgAt('up-1', '01', T)], signal);
    await s.write([msgAt('up-1', '01', T)], signal); // the outbox retrying the same message
    await s.write([msgAt('up-2', '01', T)], signal);
    await other.write([msgAt('up-1', '01', T)], signal);
    const request = '0F8FAD5B-D9CB-469F-A165-70867728950E';
    await own.write(
      [msgAt('r-1', { request, hex: '01' }, T), msgAt('r-2', { request: 'order-17', hex: '01' }, T)],
      signal,
    );
    await waitFor(() => bodies(prefix).length === 6, 'six commands');
    const [first, retry, second, otherSink, uuid, hashed] = bodies(prefix).map(({ body }) => body);
    expect(first).toEqual({
      id: expect.stringMatching(UUID),
      devEui: '0101010101010101',
      confirmed: false,
      fPort: 1,
      data: 'AQ==',
      expiresAt: '2024-07-18T10:34:15.775Z',
    });
    expect(retry?.id).toBe(first?.id);
    expect(second?.id).not.toBe(first?.id);
    expect(otherSink?.id).not.toBe(first?.id);
    // A UUID is used as it is (lowercase, as ChirpStack prints it); any other value is hashed into one.
    expect(uuid?.id).toBe(request.toLowerCase());
    expect(hashed?.id).toMatch(UUID);
    expect(own.command(msgAt('r-3', { request: 'order-17', hex: '02' }, T + 1)).payload).toMatchObject({
      id: hashed?.id,
    });
    for (const x of [s, other, own]) await x.close();
  });

  it('refuses a bad expiresAt alone, and v3 or config combinations ChirpStack can not take', async () => {
    const s = sink(unique('exp'), {
      applicationId: APP,
      devEui: '0101010101010101',
      fPort: 1,
      encoder: 'hex',
      from: 'payload.hex',
      expiresAt: '{{ payload.until }}',
    });
    expect(() => s.command(msgAt('e-1', { hex: '01', until: 'next tuesday' }, T))).toThrow(
      /expiresAt "next tuesday" .* is not an ISO 8601 time or Unix milliseconds/,
    );
    expect(s.command(msgAt('e-2', { hex: '01', until: 1721300000000 }, T)).payload).toMatchObject({
      expiresAt: '2024-07-18T10:53:20.000Z',
    });
    const v3 = sink(unique('v3'), {
      chirpstackVersion: 'v3',
      applicationId: '1',
      devEui: '0101010101010101',
      fPort: 1,
      encoder: 'hex',
    });
    expect(v3.command(msgAt('v-1', '01', T, { 'chirpstack.format': 'v4-protobuf' })).payload).toEqual({
      confirmed: false,
      fPort: 1,
      data: 'AQ==',
    });
    const issues = (c: Record<string, unknown>) =>
      chirpstackDownlinkConfig
        .safeParse({ url: 'mqtt://h', fPort: 1, ...c })
        .error?.issues.map((i) => i.message);
    expect(issues({ expiresAfter: '1h', expiresAt: '{{ payload.t }}' })).toEqual([
      'give expiresAfter or expiresAt, not both',
    ]);
    expect(issues({ chirpstackVersion: 'v3', encoding: 'protobuf' })).toEqual([
      'v3 commands are JSON: encoding protobuf needs ChirpStack v4',
    ]);
    expect(issues({ chirpstackVersion: 'v3', expiresAfter: '1h' })).toEqual([
      'expiresAfter needs ChirpStack v4: v3 commands have no such field',
    ]);
    const parse = (c: Record<string, unknown>) =>
      chirpstackDownlinkConfig.parse({ url: 'mqtt://h', fPort: 1, ...c });
    expect(chirpstackDownlinkSink.idempotent?.(parse({}))).toBe(true);
    expect(chirpstackDownlinkSink.idempotent?.(parse({ chirpstackVersion: 'v3' }))).toBe(false);
    expect(chirpstackDownlinkSink.caveats?.(parse({}))).toEqual([
      expect.stringMatching(/still in the device queue/),
    ]);
  });
});
