import { describe, expect, it } from 'vitest';
import { decodeMetric } from './datatypes.js';
import { HostState, type HostOptions } from './host-state.js';
import { createRequire } from 'node:module';
import { decodePayload, encodePayload, type PayloadInput } from './payload.js';

const rawPayload = (message: object): Uint8Array =>
  (
    createRequire(import.meta.url)('sparkplug-payload/lib/sparkplugPayloadProto.js') as {
      org: { eclipse: { tahu: { protobuf: { Payload: { encode(m: object): { finish(): Uint8Array } } } } } };
    }
  ).org.eclipse.tahu.protobuf.Payload.encode(message).finish();

const OPTIONS: HostOptions = {
  output: 'metric',
  maxPayloadBytes: 1 << 20,
  maxMetricsPerPayload: 1000,
  requestRebirth: true,
  rebirthIntervalMs: 1000,
};

const T = 1_764_930_600_000;
const enc = (p: PayloadInput, omit = false) => encodePayload({ timestamp: T, ...p }, { omitDatatype: omit });

function nbirth(seq = 0, bdSeq = 1) {
  return enc({
    seq,
    metrics: [
      { name: 'bdSeq', datatype: 'Int64', value: bdSeq },
      { name: 'Node Control/Rebirth', datatype: 'Boolean', value: false },
      { name: 'Temp', alias: 1, datatype: 'Float', value: 20.5, properties: { engUnit: 'degC' } },
      { name: 'Count', alias: 2, datatype: 'UInt64', value: '18446744073709551615' },
    ],
  });
}

function host(options: Partial<HostOptions> = {}) {
  return new HostState({ ...OPTIONS, ...options });
}

const values = (out: ReturnType<HostState['handle']>) =>
  out.records.map((r) => [r.payload.device, r.payload.metric, r.payload.value, r.payload.quality]);

describe('Sparkplug host state', () => {
  it('a birth registers metrics and emits their values, one message per metric', () => {
    const h = host();
    const out = h.handle('spBv1.0/G/NBIRTH/E', nbirth(), T);
    expect(out.events).toEqual(['nbirth']);
    expect(out.records.map((r) => r.payload)).toEqual([
      expect.objectContaining({
        group: 'G',
        edgeNode: 'E',
        device: null,
        messageType: 'NBIRTH',
        metric: 'Node Control/Rebirth',
        value: false,
      }),
      {
        group: 'G',
        edgeNode: 'E',
        device: null,
        messageType: 'NBIRTH',
        metric: 'Temp',
        value: 20.5,
        datatype: 'Float',
        timestamp: T,
        quality: 'good',
        properties: { engUnit: { type: 'String', value: 'degC' } },
      },
      expect.objectContaining({ metric: 'Count', value: '18446744073709551615', datatype: 'UInt64' }),
    ]);
    expect(out.records[1]!.meta).toMatchObject({
      'mqtt.topic': 'spBv1.0/G/NBIRTH/E',
      'sparkplug.group': 'G',
      'sparkplug.edgeNode': 'E',
      'sparkplug.device': null,
      'sparkplug.metric': 'Temp',
      'sparkplug.seq': 0,
    });
    expect(h.nodesOnline).toBe(1);
  });

  it('resolves aliased data (no name, no datatype) through the birth', () => {
    const h = host();
    h.handle('spBv1.0/G/NBIRTH/E', nbirth(), T);
    const out = h.handle(
      'spBv1.0/G/NDATA/E',
      enc(
        {
          seq: 1,
          metrics: [
            { alias: 1, datatype: 'Float', value: 21.25, timestamp: T + 5 },
            { name: 'Count', datatype: 'UInt64', value: 3 },
          ],
        },
        true,
      ),
      T + 10,
    );
    expect(out.events).toEqual(['ndata']);
    expect(values(out)).toEqual([
      [null, 'Temp', 21.25, 'good'],
      [null, 'Count', '3', 'good'],
    ]);
    expect(out.records[0]!.time).toBe(T + 5);
  });

  it('checks sequence numbers across 255 -> 0 and asks for a rebirth after a gap, once per interval', () => {
    const h = host();
    h.handle('spBv1.0/G/NBIRTH/E', nbirth(250), T);
    for (let i = 1; i <= 300; i++) {
      const out = h.handle(
        'spBv1.0/G/NDATA/E',
        enc({ seq: (250 + i) % 256, metrics: [{ alias: 1, datatype: 'Float', value: i }] }, true),
        T,
      );
      expect(out.events).toEqual(['ndata']);
    }
    // 300 messages after 250: the last seq was (250 + 300) % 256 = 38; 40 skips one.
    const gap = h.handle(
      'spBv1.0/G/NDATA/E',
      enc({ seq: 40, metrics: [{ alias: 1, datatype: 'Float', value: 1 }] }, true),
      T,
    );
    expect(gap.events).toEqual(['seq_gap', 'rebirth_request', 'ndata']);
    expect(gap.rebirth!.topic).toBe('spBv1.0/G/NCMD/E');
    const cmd = decodePayload(gap.rebirth!.payload, { maxBytes: 1000 });
    if (!cmd.ok) throw new Error(cmd.reason);
    expect(decodeMetric(cmd.payload.metrics[0]!)).toMatchObject({
      name: 'Node Control/Rebirth',
      value: true,
      datatype: 'Boolean',
    });
    // The data itself is still delivered.
    expect(values(gap)).toEqual([[null, 'Temp', 1, 'good']]);
    // A second gap within the interval is counted but does not ask again.
    const again = h.handle('spBv1.0/G/NDATA/E', enc({ seq: 50, metrics: [] }, true), T + 500);
    expect(again.events).toEqual(['seq_gap', 'ndata']);
    expect(again.rebirth).toBeUndefined();
    const later = h.handle('spBv1.0/G/NDATA/E', enc({ seq: 60, metrics: [] }, true), T + 1500);
    expect(later.rebirth).toBeDefined();
  });

  it('data before the birth is dropped and asks for a rebirth, when allowed', () => {
    const out = host().handle(
      'spBv1.0/G/NDATA/E',
      enc({ seq: 5, metrics: [{ alias: 1, datatype: 'Float', value: 1 }] }, true),
      T,
    );
    expect(out.events).toEqual(['data_before_birth', 'rebirth_request']);
    expect(out.dropped).toContain('NDATA before the NBIRTH of G/E');
    expect(out.records).toEqual([]);
    const quiet = host({ requestRebirth: false }).handle(
      'spBv1.0/G/NDATA/E',
      enc({ seq: 5, metrics: [] }),
      T,
    );
    expect(quiet.events).toEqual(['data_before_birth']);
    expect(quiet.rebirth).toBeUndefined();
  });

  it('DDATA before its DBIRTH is dropped; after the DBIRTH it resolves', () => {
    const h = host();
    h.handle('spBv1.0/G/NBIRTH/E', nbirth(), T);
    const early = h.handle(
      'spBv1.0/G/DDATA/E/D1',
      enc({ seq: 1, metrics: [{ alias: 10, datatype: 'Int32', value: 1 }] }, true),
      T,
    );
    expect(early.events).toEqual(['data_before_birth', 'rebirth_request']);
    expect(early.dropped).toContain('DDATA before the DBIRTH of device D1');
    const birth = h.handle(
      'spBv1.0/G/DBIRTH/E/D1',
      enc({ seq: 2, metrics: [{ name: 'Pressure', alias: 10, datatype: 'Int32', value: -4 }] }),
      T,
    );
    expect(birth.events).toEqual(['dbirth']);
    expect(values(birth)).toEqual([['D1', 'Pressure', -4, 'good']]);
    const data = h.handle(
      'spBv1.0/G/DDATA/E/D1',
      enc({ seq: 3, metrics: [{ alias: 10, datatype: 'Int32', value: 7 }] }, true),
      T,
    );
    expect(values(data)).toEqual([['D1', 'Pressure', 7, 'good']]);
    expect(data.records[0]!.meta['sparkplug.device']).toBe('D1');
  });

  it('an unknown alias drops that metric, keeps the others and asks for a rebirth', () => {
    const h = host();
    h.handle('spBv1.0/G/NBIRTH/E', nbirth(), T);
    const out = h.handle(
      'spBv1.0/G/NDATA/E',
      enc(
        {
          seq: 1,
          metrics: [
            { alias: 99, datatype: 'Int32', value: 1 },
            { alias: 1, datatype: 'Float', value: 2 },
          ],
        },
        true,
      ),
      T,
    );
    expect(out.events).toEqual(['ndata', 'unknown_metric', 'rebirth_request']);
    expect(values(out)).toEqual([[null, 'Temp', 2, 'good']]);
  });

  it('NDEATH with the birth bdSeq marks node and device metrics stale with their last values; another bdSeq is ignored', () => {
    const h = host();
    h.handle('spBv1.0/G/NBIRTH/E', nbirth(0, 7), T);
    h.handle(
      'spBv1.0/G/DBIRTH/E/D1',
      enc({ seq: 1, metrics: [{ name: 'P', alias: 10, datatype: 'Double', value: 1.5 }] }),
      T,
    );
    h.handle(
      'spBv1.0/G/NDATA/E',
      enc({ seq: 2, metrics: [{ alias: 1, datatype: 'Float', value: 30 }] }, true),
      T,
    );
    const late = h.handle(
      'spBv1.0/G/NDEATH/E',
      encodePayload({ metrics: [{ name: 'bdSeq', datatype: 'Int64', value: 6 }] }),
      T + 1,
    );
    expect(late.events).toEqual(['stale_death']);
    expect(late.records).toEqual([]);
    const death = h.handle(
      'spBv1.0/G/NDEATH/E',
      encodePayload({ metrics: [{ name: 'bdSeq', datatype: 'Int64', value: 7 }] }),
      T + 2,
    );
    expect(death.events).toEqual(['ndeath']);
    expect(values(death)).toEqual([
      [null, 'Node Control/Rebirth', false, 'stale'],
      [null, 'Temp', 30, 'stale'],
      [null, 'Count', '18446744073709551615', 'stale'],
      ['D1', 'P', 1.5, 'stale'],
    ]);
    expect(death.records.at(-1)!.payload.messageType).toBe('DDEATH');
    expect(death.records[0]!.time).toBe(T + 2);
    expect(h.nodesOnline).toBe(0);
    // After the death, data is data before birth again.
    expect(h.handle('spBv1.0/G/NDATA/E', enc({ seq: 3, metrics: [] }), T + 3).events[0]).toBe(
      'data_before_birth',
    );
  });

  it('DDEATH marks only that device stale', () => {
    const h = host();
    h.handle('spBv1.0/G/NBIRTH/E', nbirth(), T);
    h.handle(
      'spBv1.0/G/DBIRTH/E/D1',
      enc({ seq: 1, metrics: [{ name: 'P', datatype: 'Boolean', value: true }] }),
      T,
    );
    const out = h.handle('spBv1.0/G/DDEATH/E/D1', enc({ seq: 2, metrics: [] }), T);
    expect(out.events).toEqual(['ddeath']);
    expect(values(out)).toEqual([['D1', 'P', true, 'stale']]);
  });

  it('quality follows a Quality property', () => {
    const h = host();
    h.handle('spBv1.0/G/NBIRTH/E', nbirth(), T);
    const out = h.handle(
      'spBv1.0/G/NDATA/E',
      enc(
        {
          seq: 1,
          metrics: [
            { alias: 1, datatype: 'Float', value: 1, properties: { Quality: { type: 'Int32', value: 0 } } },
          ],
        },
        true,
      ),
      T,
    );
    expect(values(out)).toEqual([[null, 'Temp', 1, 'bad']]);
  });

  it('one message per payload as an option', () => {
    const h = host({ output: 'payload' });
    const out = h.handle('spBv1.0/G/NBIRTH/E', nbirth(), T);
    expect(out.records).toHaveLength(1);
    expect(out.records[0]!.payload).toMatchObject({
      group: 'G',
      edgeNode: 'E',
      messageType: 'NBIRTH',
      seq: 0,
      timestamp: T,
    });
    expect((out.records[0]!.payload.metrics as unknown[]).length).toBe(3);
  });

  it('malformed payloads and topics are dead-lettered with a reason; commands and STATE are ignored', () => {
    const h = host();
    const bad = h.handle('spBv1.0/G/NDATA/E', Buffer.from('12ffffffff0f', 'hex'), T);
    expect(bad.events).toEqual(['malformed']);
    expect(bad.deadLetter).toMatch(
      /^NDATA from G\/E: not a Sparkplug B payload: .*declares 4294967295 bytes/,
    );
    expect(h.handle('spBv1.0/G/FOO/E', nbirth(), T).deadLetter).toContain('unknown message type');
    expect(h.handle('spBv1.0/G/NCMD/E', nbirth(), T).events).toEqual(['ignored']);
    expect(h.handle('spBv1.0/STATE/h', Buffer.from('{}'), T).events).toEqual(['ignored']);
  });

  it('a value its datatype can not hold is dead-lettered; the rest of the payload is delivered', () => {
    const h = host();
    h.handle('spBv1.0/G/NBIRTH/E', nbirth(), T);
    // Temp is a Float in the birth; this NDATA sends a boolean field for it.
    const bytes = encodePayload(
      {
        timestamp: T,
        seq: 1,
        metrics: [
          { alias: 1, datatype: 'Boolean', value: true },
          { alias: 2, datatype: 'UInt64', value: 5 },
        ],
      },
      { omitDatatype: true },
    );
    const out = h.handle('spBv1.0/G/NDATA/E', bytes, T);
    expect(values(out)).toEqual([[null, 'Count', '5', 'good']]);
    expect(out.events).toEqual(['ndata', 'bad_value']);
    expect(out.deadLetter).toBe('NDATA from G/E: metric Temp: a Float value carries booleanValue instead');
  });

  it('losing the broker makes every known metric stale, and forgets the nodes', () => {
    const h = host();
    h.handle('spBv1.0/G/NBIRTH/E', nbirth(), T);
    h.handle(
      'spBv1.0/G/DBIRTH/E/D1',
      enc({ seq: 1, metrics: [{ name: 'P', datatype: 'Int16', value: 3 }] }),
      T,
    );
    const records = h.connectionLost(T + 9);
    expect(
      records.map((r) => [r.payload.device, r.payload.metric, r.payload.value, r.payload.quality, r.time]),
    ).toEqual([
      [null, 'Node Control/Rebirth', false, 'stale', T + 9],
      [null, 'Temp', 20.5, 'stale', T + 9],
      [null, 'Count', '18446744073709551615', 'stale', T + 9],
      ['D1', 'P', 3, 'stale', T + 9],
    ]);
    expect(h.nodesOnline).toBe(0);
    expect(h.connectionLost(T + 10)).toEqual([]);
  });

  it('a birth that gives one alias to two metrics, or properties with more keys than values, is dead-lettered with the reason', () => {
    const h = host();
    const out = h.handle(
      'spBv1.0/G/NBIRTH/E',
      enc({
        seq: 0,
        metrics: [
          { name: 'A', alias: 5, datatype: 'Int32', value: 1 },
          { name: 'B', alias: 5, datatype: 'Int32', value: 2 },
        ],
      }),
      T,
    );
    expect(out.deadLetter).toBe('NBIRTH from G/E: alias 5 given to both A and B');
    expect(values(out)).toEqual([
      [null, 'A', 1, 'good'],
      [null, 'B', 2, 'good'],
    ]);
    // The first metric keeps the alias.
    const data = h.handle(
      'spBv1.0/G/NDATA/E',
      enc({ seq: 1, metrics: [{ alias: 5, datatype: 'Int32', value: 9 }] }, true),
      T,
    );
    expect(values(data)).toEqual([[null, 'A', 9, 'good']]);
    const decoded = decodePayload(
      enc({ seq: 2, metrics: [{ alias: 5, datatype: 'Int32', value: 3, properties: { u: 'm' } }] }, true),
      { maxBytes: 1000 },
    );
    if (!decoded.ok) throw new Error(decoded.reason);
    decoded.payload.metrics[0]!.properties!.keys!.push('extra');
    // Re-encoded with Tahu's generated code, which writes what it is given.
    const bad = h.handle(
      'spBv1.0/G/NDATA/E',
      rawPayload({ timestamp: T, seq: 2, metrics: decoded.payload.metrics }),
      T,
    );
    expect(bad.deadLetter).toBe('NDATA from G/E: metric A: PropertySet: 2 keys but 1 values');
  });
});
