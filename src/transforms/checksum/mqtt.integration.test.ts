import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mqttSink, mqttSource } from '../../../connectors/mqtt/index.js';
import { mqttSinkConfig, mqttSourceConfig } from '../../../connectors/mqtt/spec.js';
import { createMessage, type Message } from '../../sdk/index.js';
import { createFakeContext } from '../../../test/conformance/context.js';
import { createTestTransformContext } from '../../../test/conformance/transform.js';
import { startMosquitto, type ServiceHandle } from '../../../test/harness/services.js';
import { verifyChecksumTransform, verifyChecksumTransformConfig } from '../verify-checksum/index.js';
import { checksumTransform, checksumTransformConfig } from './index.js';

/**
 * checksum -> MQTT sink -> Mosquitto -> MQTT source -> verify-checksum, with a real broker: the
 * user property travels as MQTT 5 user properties (meta `mqtt.userProperties` on both sides), and a
 * JSON payload is re-serialised on the way.
 */

const KEY = Buffer.from('passerelle-test-key-0123456789ab').toString('base64');
let broker: ServiceHandle;

beforeAll(async () => {
  broker = await startMosquitto();
}, 30_000);

afterAll(async () => {
  await broker?.dispose();
});

const componentCtx = () => ({
  pipeline: 'p',
  component: 'transforms[0]',
  logger: createTestTransformContext().logger,
  countDropped() {},
  async deadLetter() {},
  metrics: createFakeContext().metrics,
});

async function roundTrip(
  topic: string,
  checksumConfig: Record<string, unknown>,
  payloads: unknown[],
  tampered: { payload: Buffer; userProperties?: Record<string, string> }[],
  sinkExtra: Record<string, unknown> = {},
): Promise<{ passed: Message[]; rejected: { id: string; reason: string; payload: unknown }[] }> {
  const signal = AbortSignal.timeout(20_000);
  const source = mqttSource.create(
    mqttSourceConfig.parse({ url: broker.url, topics: [topic], qos: 1, protocolVersion: 5 }),
    createFakeContext(),
  );
  await source.connect(signal);
  const sink = mqttSink.create(
    mqttSinkConfig.parse({ url: broker.url, topic, qos: 1, protocolVersion: 5, ...sinkExtra }),
    createFakeContext(),
  );
  await sink.connect(signal);
  const add = checksumTransform.create(checksumTransformConfig.parse(checksumConfig), componentCtx());
  const verify = verifyChecksumTransform.create(
    verifyChecksumTransformConfig.parse({ ...checksumConfig, strip: true }),
    componentCtx(),
  );
  const ctx = createTestTransformContext();
  const batch = payloads.map((payload, i) => createMessage({ id: `m${i}`, payload }));
  await sink.write(await add.apply(batch, ctx), signal);
  expect(ctx.rejected).toEqual([]);
  // An attacker (or a broken hop) publishing with a stale checksum.
  const intruder = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  for (const t of tampered)
    await intruder.publishAsync(topic, t.payload, {
      qos: 1,
      ...(t.userProperties ? { properties: { userProperties: t.userProperties } } : {}),
    });
  await intruder.endAsync();

  const received: Message[] = [];
  while (received.length < payloads.length + tampered.length) {
    const delivery = await source.read(signal);
    if (!delivery) break;
    received.push(...delivery.messages);
    delivery.ack();
  }
  const verifyCtx = createTestTransformContext();
  const passed = await verify.apply(received, verifyCtx);
  await sink.close();
  await source.close();
  return {
    passed,
    rejected: verifyCtx.rejected.map((r) => ({
      id: r.message.id,
      reason: r.reason,
      payload: r.message.payload,
    })),
  };
}

describe('checksum across a real MQTT broker', () => {
  it('a user property made by checksum is forwarded by the MQTT sink and verified after the source', async () => {
    const config = { algorithm: 'hmac-sha256', key: KEY, userProperty: 'checksum' };
    const payloads = [{ device: 'd1', t: 21.5, n: 1e21 }, { b: [1, 2], a: 'é' }, 'plain text'];
    const { passed, rejected } = await roundTrip(
      'integrity/user-property',
      config,
      payloads,
      [
        {
          payload: Buffer.from('{"device":"d1","t":99,"n":1e21}'),
          userProperties: { checksum: 'f'.repeat(64) },
        },
        { payload: Buffer.from('{"t":1}') },
      ],
      { userProperties: { checksum: '{{ meta.mqtt.userProperties.checksum }}' } },
    );
    expect(passed.map((m) => m.payload)).toEqual(payloads);
    for (const m of passed) expect(m.meta['mqtt.userProperties']).toBeUndefined();
    expect(rejected.map((r) => r.reason)).toEqual([
      'verify-checksum: hmac-sha256 mismatch: the message carries "' +
        'f'.repeat(64) +
        '"; the payload was changed on the way, or the sender used other settings',
      'verify-checksum: no checksum: no MQTT user property "checksum" (meta mqtt.userProperties)',
    ]);
  }, 30_000);

  it('a checksum field survives the JSON round trip through the broker', async () => {
    const payloads = [{ z: 1, a: { y: [true, null], x: 0.1 } }, { device: 'd2' }];
    const { passed, rejected } = await roundTrip('integrity/field', { algorithm: 'sha256' }, payloads, [
      { payload: Buffer.from('{"z":2,"a":{"y":[true,null],"x":0.1},"checksum":"00"}') },
    ]);
    expect(passed.map((m) => m.payload)).toEqual(payloads);
    expect(rejected).toHaveLength(1);
    expect(rejected[0]?.reason).toMatch(/^verify-checksum: sha256 mismatch: the message carries "00"/);
  }, 30_000);
});
