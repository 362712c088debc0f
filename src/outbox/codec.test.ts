import { describe, expect, it, vi } from 'vitest';
import { carriedJson, jsonMessage, messageSize, payloadJson, type Message } from '../sdk/index.js';
import {
  decodeJob,
  decodeValue,
  encodeJob,
  decodeMessages,
  encodeMessages,
  encodeValue,
  messagesFromJson,
  messagesToJson,
  type EncodedMessage,
  type JobData,
} from './codec.js';

const roundTrip = (v: unknown): unknown => decodeValue(JSON.parse(JSON.stringify(encodeValue(v))));

describe('outbox codec', () => {
  it('keeps bytes as bytes, at the top and nested', () => {
    const out = roundTrip({ a: [1, new Uint8Array([1, 2])], b: Buffer.from('hi') }) as {
      a: [number, Uint8Array];
      b: Uint8Array;
    };
    expect(out.a[0]).toBe(1);
    expect(out.a[1]).toBeInstanceOf(Uint8Array);
    expect([...out.a[1]]).toEqual([1, 2]);
    expect(Buffer.from(out.b).toString()).toBe('hi');
    const view = new Uint8Array([9, 8, 7, 6]).subarray(1, 3);
    expect([...(roundTrip(view) as Uint8Array)]).toEqual([8, 7]);
  });

  it('does not mistake user objects shaped like markers for bytes', () => {
    for (const v of [{ $bytes: 'AAAA' }, { $esc: { x: 1 } }, { $esc: 1, other: 2 }, [{ $bytes: 'x' }]]) {
      expect(roundTrip(v)).toEqual(v);
    }
    expect(roundTrip({ $bytes: new Uint8Array([5]) })).toEqual({ $bytes: Buffer.from([5]) });
  });

  it('keeps NaN and ±Infinity (JSON would make them null), at the top and nested', () => {
    expect(roundTrip(NaN)).toBeNaN();
    expect(roundTrip({ a: [Infinity, { b: -Infinity }], c: NaN, d: 1 })).toEqual({
      a: [Infinity, { b: -Infinity }],
      c: NaN,
      d: 1,
    });
    for (const v of [{ $num: 'NaN' }, { $num: 'Infinity' }, { $num: 5 }, [{ $num: '-Infinity' }]]) {
      expect(roundTrip(v)).toEqual(v);
    }
  });

  it('leaves values without bytes untouched (no copy) and everything else as JSON does', () => {
    const plain = { a: 1, b: ['x', null, true, { c: 2.5 }] };
    expect(encodeValue(plain)).toBe(plain);
    expect(roundTrip(plain)).toEqual(plain);
    expect(roundTrip('s')).toBe('s');
    expect(roundTrip(null)).toBe(null);
    expect(roundTrip(new Date(0))).toBe('1970-01-01T00:00:00.000Z');
  });

  it('round-trips messages', () => {
    const msgs = [
      { id: '1', payload: new Uint8Array([0, 255]), meta: { 'mqtt.topic': 't' }, time: 1 },
      { id: '2', payload: { x: 1 }, meta: {}, time: 2 },
    ];
    const back = messagesFromJson(messagesToJson(msgs));
    expect(back[0]?.payload).toBeInstanceOf(Uint8Array);
    expect([...(back[0]?.payload as Uint8Array)]).toEqual([0, 255]);
    expect(back[1]).toEqual(msgs[1]);
    expect(back[0]?.meta).toEqual({ 'mqtt.topic': 't' });
  });

  it('keeps message times with a microsecond fraction exactly (JSON round-trips doubles)', () => {
    const times = [1_700_000_000_123.456, 1_700_000_000_123.001, 1_700_000_000_123.999, 0.001, -1.5];
    for (let us = 1_764_000_000_000_000; us < 1_764_000_000_000_000 + 20_000; us += 1) times.push(us / 1000);
    const msgs = times.map((time, i) => ({ id: `m${i}`, payload: { i }, meta: {}, time }));
    const back = messagesFromJson(messagesToJson(msgs));
    expect(back.filter((m, i) => !Object.is(m.time, times[i])).length).toBe(0);
  });

  it('stores an object payload as the text it came as, serialised and parsed once', () => {
    // Not the text JSON.stringify would give: proves the bytes are reused, not re-serialised.
    const text = '{ "a": 1.0, "big": 12345678901234567890, "s": "\\u00e9" }';
    const m = jsonMessage('r', JSON.parse(text), text, { k: 'v' }, 1.5);
    const stringify = vi.spyOn(JSON, 'stringify');
    const parse = vi.spyOn(JSON, 'parse');
    try {
      expect(messageSize(m)).toBe(Buffer.byteLength(text) + 64);
      const json = messagesToJson([m]);
      // One stringify: the job itself; the payload's text is carried inside it.
      expect(stringify).toHaveBeenCalledTimes(1);
      const [back] = messagesFromJson(json) as [Message];
      // The job only: the payload's text is parsed when the payload is read, not to send or size it.
      expect(parse).toHaveBeenCalledTimes(1);
      expect(payloadJson(back)).toBe(text);
      expect(messageSize(back)).toBe(messageSize(m));
      expect(parse).toHaveBeenCalledTimes(1);
      expect(back.payload).toEqual({ a: 1, big: 12345678901234567000, s: 'é' });
      expect(back.payload).toBe(back.payload);
      expect(parse).toHaveBeenCalledTimes(2);
      expect(stringify).toHaveBeenCalledTimes(1);
      expect(back).toEqual({
        id: 'r',
        payload: { a: 1, big: 12345678901234567000, s: 'é' },
        meta: { k: 'v' },
        time: 1.5,
      });
      expect({ ...back, meta: {} }.payload).toEqual(back.payload);
    } finally {
      stringify.mockRestore();
      parse.mockRestore();
    }
  });

  it('a message read back is a plain message to its readers: spreads, JSON, payload assignment', () => {
    const sent = [{ id: 'p', payload: { a: [1, 'x'] }, meta: { k: 'v' }, time: 2 }];
    const [back] = messagesFromJson(messagesToJson(sent)) as [Message];
    expect(back).toEqual(sent[0]);
    expect({ ...back }).toEqual(sent[0]);
    expect(Object.keys(back).sort()).toEqual(['id', 'meta', 'payload', 'time']);
    expect(JSON.parse(JSON.stringify(back))).toEqual(sent[0]);
    expect(carriedJson(back)).toBe('{"a":[1,"x"]}');
    back.payload = { b: 2 };
    expect(back.payload).toEqual({ b: 2 });
    expect(carriedJson(back)).toBeUndefined();
    expect(payloadJson(back)).toBe('{"b":2}');
  });

  it('a payload replaced after the text was kept is serialised anew', () => {
    const m = jsonMessage('x', JSON.parse('{"a":1}'), '{"a":1}', {}, 1);
    const changed = { ...m, payload: { a: 2 } };
    expect(payloadJson(changed)).toBe('{"a":2}');
    const [back] = messagesFromJson(messagesToJson([changed])) as [Message];
    back.payload = { b: 3 };
    expect(messageSize(back)).toBe(messageSize({ ...back }));
    expect(payloadJson(back)).toBe('{"b":3}');
    expect(messagesFromJson(messagesToJson([back]))[0]?.payload).toEqual({ b: 3 });
  });

  it('a received text shaped like a marker stays user data through the stored text', () => {
    const text = '{"$num":"NaN","n":[{"$bytes":"AAAA"}],"e":{"$esc":{"x":1}}}';
    const [back] = messagesFromJson(messagesToJson([jsonMessage('t', JSON.parse(text), text, {}, 1)])) as [
      Message,
    ];
    expect(back.payload).toEqual({ $num: 'NaN', n: [{ $bytes: 'AAAA' }], e: { $esc: { x: 1 } } });
    const single = '{"$num":"NaN"}';
    const [one] = messagesFromJson(messagesToJson([jsonMessage('u', JSON.parse(single), single, {}, 1)])) as [
      Message,
    ];
    expect(one.payload).toEqual({ $num: 'NaN' });
  });

  it('keeps markers, NaN and bytes exact in whole messages (they are not stored as plain text)', () => {
    const payloads = [
      { $num: 'NaN' },
      { x: NaN, y: [Infinity] },
      { b: Buffer.from('hi') },
      [{ $esc: 1 }],
      { d: new Date(0) },
    ];
    const msgs = payloads.map((payload, i) => ({
      id: `m${i}`,
      payload,
      meta: { n: -Infinity },
      time: i + 0.001,
    }));
    const back = messagesFromJson(messagesToJson(msgs));
    expect(back.map((m) => m.payload)).toEqual([
      { $num: 'NaN' },
      { x: NaN, y: [Infinity] },
      { b: Buffer.from('hi') },
      [{ $esc: 1 }],
      { d: '1970-01-01T00:00:00.000Z' },
    ]);
    expect(back.every((m) => m.meta.n === -Infinity)).toBe(true);
    expect(back.map((m) => m.time)).toEqual(msgs.map((m) => m.time));
  });

  describe('job data', () => {
    const mqttMeta = (topic: string): Record<string, unknown> => ({
      'mqtt.topic': topic,
      'mqtt.qos': 1,
      'mqtt.retain': false,
      'mqtt.dup': false,
    });

    it('stores a meta its messages share once, and gives each message its own copy back', () => {
      const msgs = Array.from({ length: 6 }, (_, i) => {
        const text = `{"i":${i}}`;
        return jsonMessage(`m${i}`, JSON.parse(text), text, mqttMeta(i % 3 === 2 ? 'b' : 'a'), i + 0.5);
      });
      const json = messagesToJson(msgs);
      // Two distinct metas: each topic appears once in the stored job.
      expect(json.split('"mqtt.topic"').length - 1).toBe(2);
      expect(json.length).toBeLessThan(JSON.stringify({ a: 1, m: encodeMessages(msgs) }).length * 0.7);
      const back = messagesFromJson(json);
      expect(back.map((m) => m.meta)).toEqual(msgs.map((m) => m.meta));
      expect(back.map((m) => [m.id, m.time, payloadJson(m)])).toEqual(
        msgs.map((m) => [m.id, m.time, payloadJson(m)]),
      );
      back[0]!.meta['mqtt.topic'] = 'changed';
      expect(back[1]!.meta['mqtt.topic']).toBe('a');
    });

    it('stores metas that are not flat with their message, exactly', () => {
      const metas: Record<string, unknown>[] = [
        { n: NaN },
        { b: Buffer.from('x') },
        { nested: { k: 'v' } },
        { $bytes: 'AAAA' },
        { u: undefined, k: 1 },
        {},
        { d: -0 },
      ];
      const msgs = metas.map((meta, i) => ({ id: `m${i}`, payload: { i }, meta, time: i }));
      const back = messagesFromJson(messagesToJson(msgs));
      expect(back.map((m) => m.meta)).toEqual([
        { n: NaN },
        { b: Buffer.from('x') },
        { nested: { k: 'v' } },
        { $bytes: 'AAAA' },
        { k: 1 },
        {},
        { d: 0 },
      ]);
    });

    it('keeps at most 32 shared metas per job; the others stay with their message', () => {
      const msgs = Array.from({ length: 40 }, (_, i) => ({
        id: `m${i}`,
        payload: i,
        meta: mqttMeta(`t${i}`),
        time: i,
      }));
      const data = encodeJob(msgs, 3);
      expect(data.a).toBe(3);
      expect(data.t).toHaveLength(32);
      const back = decodeJob(JSON.parse(JSON.stringify(data)) as JobData);
      expect(back).toEqual(msgs);
    });

    it('is refused, not misread, by the earlier decoder (a replica not yet upgraded)', () => {
      const data = JSON.parse(
        messagesToJson([{ id: 'a', payload: { x: 1 }, meta: mqttMeta('t'), time: 1 }]),
      ) as {
        m?: EncodedMessage[];
      };
      // What the earlier version did with job.data: it throws, so BullMQ retries the job.
      expect(() => decodeMessages(data.m as EncodedMessage[])).toThrow(TypeError);
    });

    it('decodes jobs stored in the earlier form (one object per message)', () => {
      const msgs = [
        jsonMessage('j', { a: 1 }, '{"a":1}', mqttMeta('x'), 1),
        { id: 'b', payload: Buffer.from('hi'), meta: { n: Infinity }, time: 2 },
        { id: 'u', payload: undefined, meta: {}, time: 3 },
      ];
      const old = JSON.parse(JSON.stringify({ a: 2, m: encodeMessages(msgs) })) as JobData;
      const back = decodeJob(old);
      expect(payloadJson(back[0]!)).toBe('{"a":1}');
      expect(back[0]!.meta).toEqual(mqttMeta('x'));
      expect(back[1]).toEqual(msgs[1]);
      expect(back[2]).toEqual(msgs[2]);
      expect(decodeJob(JSON.parse(messagesToJson(msgs)) as JobData)).toEqual(back);
    });
  });
});
