import { describe, expect, it } from 'vitest';
import type { Message } from '../sdk/index.js';
import { CURRENT_VALUES_CAP, CurrentValues } from './current-values.js';

const msg = (meta: Record<string, unknown>, payload: unknown = 1, time = 0): Message =>
  ({ id: 'x', payload, meta, time }) as Message;

describe('current values', () => {
  it('keys a message by OPC UA node, then LoRaWAN device, then MQTT topic, and keeps the last value', () => {
    const values = new CurrentValues();
    values.record(
      msg({ 'mqtt.topic': 'a/b', 'opcua.nodeId': 'ns=2;s=T1', 'opcua.quality': 'good' }, 20.5),
      1000,
    );
    values.record(msg({ 'mqtt.topic': 'app/1/up', 'chirpstack.devEui': '0011' }, { t: 1 }), 1000);
    values.record(msg({ 'mqtt.topic': 'plant/t1' }, 'on'), 1000);
    values.record(msg({ other: 1 }, 'untracked'), 1000);
    values.record(msg({ 'opcua.nodeId': 'ns=2;s=T1', 'opcua.quality': 'uncertain' }, 21), 2000);
    const list = values.list();
    expect(list.map((v) => [v.key, v.field])).toEqual([
      ['ns=2;s=T1', 'opcua.nodeId'],
      ['plant/t1', 'mqtt.topic'],
      ['0011', 'chirpstack.devEui'],
    ]);
    expect(list[0]).toMatchObject({ payload: 21, quality: 'uncertain', time: 2000, count: 2 });
    expect(list[1]!.quality).toBeUndefined();
  });

  it('measures the rate of each key over its last arrivals', () => {
    const values = new CurrentValues();
    for (let i = 0; i < 40; i++) values.record(msg({ 'mqtt.topic': 'fast' }), 10_000 + i * 100); // 10/s
    for (let i = 0; i < 3; i++) values.record(msg({ 'mqtt.topic': 'slow' }), 10_000 + i * 2000); // 0.5/s
    values.record(msg({ 'mqtt.topic': 'once' }), 10_000);
    const rate = Object.fromEntries(values.list().map((v) => [v.key, v.rate]));
    expect(rate.fast).toBeCloseTo(10, 5);
    expect(rate.slow).toBeCloseTo(0.5, 5);
    expect(rate.once).toBe(0);
  });

  it(`keeps at most ${CURRENT_VALUES_CAP} keys, forgetting the least recently updated`, () => {
    const values = new CurrentValues();
    values.record(msg({ 'mqtt.topic': 'kept' }), 0);
    // 100 new keys a second; 'kept' is updated twice a second, so it stays.
    for (let i = 0; i < 5000; i++) {
      values.record(msg({ 'mqtt.topic': `t/${i}` }), i * 10);
      if (i % 50 === 0) values.record(msg({ 'mqtt.topic': 'kept' }), i * 10);
    }
    expect(values.size).toBe(CURRENT_VALUES_CAP);
    expect(values.evicted).toBe(5001 - CURRENT_VALUES_CAP);
    const keys = values.list().map((v) => v.key);
    expect(keys).toContain('kept');
    expect(keys).toContain('t/4999');
    expect(keys).not.toContain('t/0');
  });

  it('keeps a large value as its size only (bounded memory)', () => {
    const values = new CurrentValues();
    values.record(msg({ 'mqtt.topic': 'big' }, { blob: 'x'.repeat(100_000) }), 0);
    values.record(msg({ 'mqtt.topic': 'text' }, 'y'.repeat(100_000)), 0);
    values.record(msg({ 'mqtt.topic': 'bytes' }, new Uint8Array(10)), 0);
    values.record(msg({ 'mqtt.topic': 'small' }, { t: 1 }), 0);
    const byKey = Object.fromEntries(values.list().map((v) => [v.key, v.payload]));
    expect(byKey.big).toEqual({ 'not kept: larger than 16 KiB': expect.any(Number) });
    expect((byKey.text as string).length).toBe(16 * 1024 + 3);
    expect(byKey.bytes).toEqual({ bytes: 10 });
    expect(byKey.small).toEqual({ t: 1 });
  });

  it('bounds the length of a key', () => {
    const values = new CurrentValues(10);
    values.record(msg({ 'mqtt.topic': 'x'.repeat(10_000) }), 0);
    expect(values.list()[0]!.key.length).toBe(512);
  });
  it('records a batch as its messages one by one, measuring each value once per key', () => {
    const reads: string[] = [];
    const counted = (name: string, topic: string, payload: unknown): Message => {
      const m = msg({ 'mqtt.topic': topic, quality: name }, undefined, 5);
      Object.defineProperty(m, 'payload', {
        get: () => {
          reads.push(name);
          return payload;
        },
      });
      return m;
    };
    const batch = [
      counted('a1', 'a', { v: 1 }),
      counted('b1', 'b', { v: 2 }),
      counted('a2', 'a', { v: 3 }),
      counted('a3', 'a', { v: 4 }),
    ];
    const values = new CurrentValues();
    values.recordBatch(batch, 1000);
    const one = new CurrentValues();
    for (const m of batch) one.record(m, 1000);
    expect(values.list()).toEqual(one.list());
    expect(values.list()[0]).toMatchObject({ key: 'b', payload: { v: 2 }, quality: 'b1', count: 1 });
    expect(values.list()[1]).toMatchObject({ key: 'a', payload: { v: 4 }, quality: 'a3', count: 3 });
    // The first messages of 'a' are counted without their payloads being looked at.
    reads.length = 0;
    new CurrentValues().recordBatch(batch, 1000);
    expect(reads.filter((r) => r === 'a1' || r === 'a2')).toEqual([]);
  });

  it('records runs of messages sharing one meta object (a source of one topic) as one by one', () => {
    const metaA = { 'mqtt.topic': 'a' };
    const metaB = { 'mqtt.topic': 'b' };
    const batch = [
      ...Array.from({ length: 20 }, (_, i) => msg(metaA, { i }, i)),
      msg(metaB, { b: 1 }, 100),
      ...Array.from({ length: 3 }, (_, i) => msg(metaA, { j: i }, 200 + i)),
      msg({ 'mqtt.topic': 'a' }, { last: true }, 300),
    ];
    const values = new CurrentValues();
    values.recordBatch(batch.slice(0, 5), 1000);
    values.recordBatch(batch, 1500);
    values.recordBatch(batch.slice(3, 24), 4000);
    const one = new CurrentValues();
    for (const m of batch.slice(0, 5)) one.record(m, 1000);
    for (const m of batch) one.record(m, 1500);
    for (const m of batch.slice(3, 24)) one.record(m, 4000);
    expect(values.list()).toEqual(one.list());
    expect(values.list()).toEqual([
      expect.objectContaining({ key: 'b', payload: { b: 1 }, count: 2 }),
      expect.objectContaining({ key: 'a', payload: { j: 2 }, messageTime: 202, count: 5 + 24 + 20 }),
    ]);
  });

  it('records a batch that evicts keys as the messages one by one', () => {
    const batch = Array.from({ length: CURRENT_VALUES_CAP + 50 }, (_, i) =>
      msg({ 'mqtt.topic': `t/${i % (CURRENT_VALUES_CAP + 10)}` }, { i }),
    );
    const values = new CurrentValues();
    values.recordBatch(batch, 1000);
    const one = new CurrentValues();
    for (const m of batch) one.record(m, 1000);
    expect(values.list()).toEqual(one.list());
    expect(values.evicted).toBe(one.evicted);
  });
});
