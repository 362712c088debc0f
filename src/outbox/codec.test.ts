import { describe, expect, it } from 'vitest';
import { decodeValue, encodeValue, messagesFromJson, messagesToJson } from './codec.js';

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
});
