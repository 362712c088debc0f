import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchError, FatalError, createMessage, type Message } from '../../src/sdk/index.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';
import { createFakeContext, waitFor } from '../../test/conformance/context.js';
import { mqttSink } from './index.js';
import type { MqttSink } from './sink.js';
import { mqttSinkConfig } from './spec.js';

/**
 * A topic template's values from the message can not add topic levels or wildcards: a device id
 * `d7/../../cmd/valve-3/set` must not reach the command topic of a valve. The source topic's own
 * levels (`topic[n]`, `meta.mqtt.topic`) are copied as they are.
 */

let broker: ServiceHandle;
let watcher: MqttClient;
const seen: IPublishPacket[] = [];
const base = `levels-${process.pid}`;

beforeAll(async () => {
  broker = await startMosquitto();
  watcher = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  watcher.on('message', (_topic, _payload, packet) => seen.push(packet));
  await watcher.subscribeAsync('#', { qos: 1 });
}, 30_000);

afterAll(async () => {
  await watcher?.endAsync(true);
  await broker?.dispose();
});

async function publish(config: Record<string, unknown>, batch: Message[]): Promise<BatchError | undefined> {
  const s = mqttSink.create(
    mqttSinkConfig.parse({ url: broker.url, ...config }),
    createFakeContext(),
  ) as MqttSink;
  await s.connect(AbortSignal.timeout(10_000));
  try {
    return await s.write(batch, AbortSignal.timeout(10_000)).then(
      () => undefined,
      (e: unknown) => {
        if (e instanceof BatchError) return e;
        throw e;
      },
    );
  } finally {
    await s.close();
  }
}

const msg = (payload: unknown, meta: Record<string, unknown> = {}): Message =>
  createMessage({ id: String(Math.random()), payload, meta });

describe('mqtt sink topic levels', () => {
  it('dead-letters a message whose payload or meta value would add levels or wildcards, with the reason', async () => {
    const topic = `${base}/reject/{{ payload.dev }}/{{ meta.site }}/set`;
    const error = await publish({ topic }, [
      msg({ dev: 'd7/../../cmd/valve-3/set' }, { site: 's1' }),
      msg({ dev: 'd+' }, { site: 's1' }),
      msg({ dev: 'd#' }, { site: 's1' }),
      msg({ dev: 'd\u0000' }, { site: 's1' }),
      msg({ dev: 'd8' }, { site: 'a/b' }),
      msg({ dev: { nested: 'x/y' } }, { site: 's1' }),
      msg({ dev: 'd9' }, { site: 's1' }),
    ]);
    expect(error).toBeInstanceOf(BatchError);
    const failures = error!.failures;
    expect(failures.map((f) => f.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(failures.every((f) => f.error instanceof FatalError)).toBe(true);
    expect(failures[0]!.error.message).toBe(
      `topic template "${topic}": the value of payload.dev contains "/", which would add topic levels (set topicValues: escape to publish it escaped)`,
    );
    expect(failures[1]!.error.message).toMatch(/payload\.dev contains "\+", a wildcard/);
    expect(failures[2]!.error.message).toMatch(/payload\.dev contains "#", a wildcard/);
    expect(failures[3]!.error.message).toMatch(/payload\.dev contains the NUL character/);
    expect(failures[4]!.error.message).toMatch(/meta\.site contains "\/"/);
    expect(failures[5]!.error.message).toMatch(/payload\.dev contains "\/"/);
    await waitFor(() => seen.some((p) => p.topic === `${base}/reject/d9/s1/set`), 'the good message');
    expect(seen.filter((p) => p.topic.startsWith(`${base}/reject/`)).map((p) => p.topic)).toEqual([
      `${base}/reject/d9/s1/set`,
    ]);
    expect(seen.some((p) => p.topic.includes('cmd/valve-3'))).toBe(false);
  });

  it('copies the levels of the source topic (topic[n], meta.mqtt.topic) as they are', async () => {
    const source = 'plant/line-1/sensor/t1';
    const error = await publish({ topic: `${base}/copy/{{ meta.mqtt.topic }}/{{ topic[1] }}` }, [
      msg({ v: 1 }, { 'mqtt.topic': source }),
    ]);
    expect(error).toBeUndefined();
    await waitFor(() => seen.some((p) => p.topic.startsWith(`${base}/copy/`)), 'the copy');
    expect(seen.find((p) => p.topic.startsWith(`${base}/copy/`))!.topic).toBe(
      `${base}/copy/plant/line-1/sensor/t1/line-1`,
    );
  });

  it('with topicValues: escape, publishes such values percent-encoded within one level', async () => {
    const error = await publish({ topic: `${base}/escape/{{ payload.dev }}/set`, topicValues: 'escape' }, [
      msg({ dev: 'd7/../../cmd/valve-3/set' }),
      msg({ dev: '50%+#\u0000' }),
    ]);
    expect(error).toBeUndefined();
    await waitFor(() => seen.filter((p) => p.topic.startsWith(`${base}/escape/`)).length === 2, 'both');
    expect(seen.filter((p) => p.topic.startsWith(`${base}/escape/`)).map((p) => p.topic)).toEqual([
      `${base}/escape/d7%2F..%2F..%2Fcmd%2Fvalve-3%2Fset/set`,
      `${base}/escape/50%25%2B%23%00/set`,
    ]);
  });

  it('with topicValues: levels, lets values add levels (OPC UA node names) but not wildcards', async () => {
    const error = await publish({ topic: `${base}/levels/{{ payload.node }}`, topicValues: 'levels' }, [
      msg({ node: 'Line1/Temperature' }),
      msg({ node: 'Line1/+' }),
    ]);
    expect(error!.failures.map((f) => f.index)).toEqual([1]);
    expect(error!.failures[0]!.error.message).toMatch(/payload\.node contains "\+", a wildcard/);
    await waitFor(() => seen.some((p) => p.topic.startsWith(`${base}/levels/`)), 'the good one');
    expect(seen.filter((p) => p.topic.startsWith(`${base}/levels/`)).map((p) => p.topic)).toEqual([
      `${base}/levels/Line1/Temperature`,
    ]);
  });

  it('dead-letters a message whose topic value is missing, null or empty, by default, with the reason', async () => {
    // A map removed `node`: publishing to `factory/` would mix every node's values in one topic.
    const topic = `${base}/empty/{{ payload.node }}`;
    const error = await publish({ topic }, [
      msg({ value: 1 }),
      msg({ node: null, value: 2 }),
      msg({ node: '', value: 3 }),
      msg({ node: 'n4', value: 4 }),
      msg({ node: 0, value: 5 }),
    ]);
    expect(error!.failures.map((f) => f.index)).toEqual([0, 1, 2]);
    expect(error!.failures.every((f) => f.error instanceof FatalError)).toBe(true);
    expect(error!.failures[0]!.error.message).toBe(
      `topic template "${topic}": payload.node is missing in this message, which would publish to a topic shared with other keys (set missingValues: empty to publish it anyway)`,
    );
    expect(error!.failures[1]!.error.message).toMatch(/payload\.node is null in this message/);
    expect(error!.failures[2]!.error.message).toMatch(/payload\.node is empty in this message/);
    await waitFor(() => seen.filter((p) => p.topic.startsWith(`${base}/empty/`)).length === 2, 'good ones');
    expect(seen.filter((p) => p.topic.startsWith(`${base}/empty/`)).map((p) => p.topic)).toEqual([
      `${base}/empty/n4`,
      `${base}/empty/0`,
    ]);
  });

  it('with missingValues: empty, renders a missing value as empty text (the old behaviour)', async () => {
    const error = await publish({ topic: `${base}/lenient/{{ payload.node }}`, missingValues: 'empty' }, [
      msg({ value: 1 }),
    ]);
    expect(error).toBeUndefined();
    await waitFor(() => seen.some((p) => p.topic === `${base}/lenient/`), 'the empty level');
  });

  it('refuses an unknown topicValues setting', () => {
    expect(mqttSinkConfig.safeParse({ url: 'mqtt://b', topic: 't', topicValues: 'allow' }).success).toBe(
      false,
    );
  });
});
