import { describe, expect, it } from 'vitest';
import { EdgeSession, type MetricSample } from './edge-session.js';

function session(extra: Partial<ConstructorParameters<typeof EdgeSession>[0]> = {}): EdgeSession {
  return new EdgeSession({
    groupId: 'plant',
    edgeNodeId: 'gw1',
    aliases: true,
    maxMetricsPerMessage: 1000,
    now: () => 1_000,
    ...extra,
  });
}

const sample = (name: string, value: number, device?: string, timestamp = 5): MetricSample => ({
  device,
  name,
  type: 'Double',
  value,
  timestamp,
});

describe('EdgeSession', () => {
  it('births with seq 0, bdSeq, Rebirth false without alias, declared metrics null until a value comes', () => {
    const s = session({
      declared: [
        { name: 'Uptime', type: 'Int64', value: null, timestamp: 1 },
        { device: 'line1', name: 'Speed', type: 'Double', value: 3, timestamp: 1 },
      ],
    });
    expect(s.startConnection()).toBe(0);
    const births = s.births();
    expect(births.map((b) => [b.type, b.topic, b.payload.seq])).toEqual([
      ['NBIRTH', 'spBv1.0/plant/NBIRTH/gw1', 0],
      ['DBIRTH', 'spBv1.0/plant/DBIRTH/gw1/line1', 1],
    ]);
    const nbirth = births[0]!.payload.metrics;
    expect(nbirth[0]).toMatchObject({ name: 'bdSeq', datatype: 'Int64', value: 0 });
    expect(nbirth[1]).toEqual({
      name: 'Node Control/Rebirth',
      datatype: 'Boolean',
      value: false,
      timestamp: 1_000,
    });
    expect(nbirth[2]).toMatchObject({ name: 'Uptime', alias: 1, datatype: 'Int64', value: null });
    expect(births[1]!.payload.metrics[0]).toMatchObject({ name: 'Speed', alias: 2, value: 3 });
  });

  it('bdSeq goes up by one per connection and wraps after 255; NDEATH carries it and no seq', () => {
    const s = session({ firstBdSeq: 254 });
    expect(s.startConnection()).toBe(254);
    expect(s.startConnection()).toBe(255);
    expect(s.startConnection()).toBe(0);
    const death = s.death();
    expect(death.topic).toBe('spBv1.0/plant/NDEATH/gw1');
    expect(death.payload.seq).toBeUndefined();
    expect(death.payload.metrics).toEqual([{ name: 'bdSeq', datatype: 'Int64', value: 0, timestamp: 1_000 }]);
  });

  it('refuses data before NBIRTH, and after the connection is lost', () => {
    const s = session();
    s.startConnection();
    expect(() => s.data([sample('a', 1)])).toThrow(/before NBIRTH/);
    s.births();
    s.unborn();
    expect(() => s.data([sample('a', 1)])).toThrow(/before NBIRTH/);
  });

  it('a new device gets a DBIRTH with its first values; later values go in DDATA with aliases only', () => {
    const s = session();
    s.startConnection();
    s.births();
    const out = s.data([sample('T', 1, 'd1'), sample('P', 2, 'd1'), sample('T', 3, 'd1', 6)]);
    expect(out.map((p) => [p.type, p.payload.seq])).toEqual([
      ['DBIRTH', 1],
      ['DDATA', 2],
    ]);
    expect(out[0]!.payload.metrics.map((m) => [m.name, m.alias, m.value])).toEqual([
      ['T', 1, 1],
      ['P', 2, 2],
    ]);
    expect(out[1]!.payload.metrics).toEqual([{ alias: 1, datatype: 'Double', value: 3, timestamp: 6 }]);
  });

  it('a new metric on a device already born: DDEATH then DBIRTH with every metric, then the data', () => {
    const s = session();
    s.startConnection();
    s.births();
    s.data([sample('T', 1, 'd1')]);
    const out = s.data([sample('T', 2, 'd1'), sample('New', 7, 'd1')]);
    expect(out.map((p) => [p.type, p.topic, p.payload.seq])).toEqual([
      ['DDEATH', 'spBv1.0/plant/DDEATH/gw1/d1', 2],
      ['DBIRTH', 'spBv1.0/plant/DBIRTH/gw1/d1', 3],
      ['DDATA', 'spBv1.0/plant/DDATA/gw1/d1', 4],
    ]);
    // The birth holds the current value of T (before this batch) and the first value of New.
    expect(out[1]!.payload.metrics.map((m) => [m.name, m.value])).toEqual([
      ['T', 1],
      ['New', 7],
    ]);
    expect(out[2]!.payload.metrics.map((m) => [m.alias, m.value])).toEqual([[1, 2]]);
  });

  it('a new edge node metric: a whole new birth sequence (NBIRTH seq 0 and every DBIRTH), same bdSeq', () => {
    const s = session();
    s.startConnection();
    s.births();
    s.data([sample('T', 1, 'd1')]);
    const out = s.data([sample('NodeTemp', 40)]);
    expect(out.map((p) => [p.type, p.payload.seq])).toEqual([
      ['NBIRTH', 0],
      ['DBIRTH', 1],
    ]);
    expect(out[0]!.payload.metrics.find((m) => m.name === 'bdSeq')!.value).toBe(0);
    expect(out[0]!.payload.metrics.find((m) => m.name === 'NodeTemp')!.value).toBe(40);
    expect(s.data([sample('NodeTemp', 41)]).map((p) => [p.type, p.payload.seq])).toEqual([['NDATA', 2]]);
  });

  it('seq runs 0..255 and wraps to 0 across births and data', () => {
    const s = session();
    s.startConnection();
    s.births();
    const seqs: number[] = [];
    s.data([sample('T', 0, 'd1')]); // DBIRTH seq 1
    for (let i = 0; i < 300; i++) for (const p of s.data([sample('T', i, 'd1')])) seqs.push(p.payload.seq!);
    expect(seqs.slice(0, 3)).toEqual([2, 3, 4]);
    expect(seqs[253]).toBe(255);
    expect(seqs[254]).toBe(0);
    for (let i = 1; i < seqs.length; i++) expect(seqs[i]).toBe((seqs[i - 1]! + 1) % 256);
  });

  it('splits NDATA/DDATA past maxMetricsPerMessage, keeping the order of values', () => {
    const s = session({ maxMetricsPerMessage: 2 });
    s.startConnection();
    s.births();
    s.data([sample('T', 0, 'd1')]);
    const out = s.data([1, 2, 3, 4, 5].map((v) => sample('T', v, 'd1')));
    expect(out.map((p) => p.payload.metrics.map((m) => m.value))).toEqual([[1, 2], [3, 4], [5]]);
  });

  it('without aliases: names in data messages, no alias anywhere', () => {
    const s = session({ aliases: false });
    s.startConnection();
    s.births();
    const [birth, data] = s.data([sample('T', 1, 'd1'), sample('T', 2, 'd1')]);
    expect(birth!.payload.metrics[0]!.alias).toBeUndefined();
    expect(data!.payload.metrics[0]).toMatchObject({ name: 'T', value: 2 });
    expect(data!.payload.metrics[0]!.alias).toBeUndefined();
  });

  it('aliases are unique across the edge node and stable across rebirths', () => {
    const s = session();
    s.startConnection();
    s.births();
    s.data([sample('T', 1, 'd1'), sample('T', 1, 'd2'), sample('N', 1)]);
    const births = s.births();
    const aliases = births.flatMap((b) =>
      b.payload.metrics.map((m) => m.alias).filter((a) => a !== undefined),
    );
    expect(new Set(aliases).size).toBe(aliases.length);
    expect(aliases.sort()).toEqual([1, 2, 3]);
  });

  it('quality goes in a Quality property (OPC DA codes)', () => {
    const s = session();
    s.startConnection();
    s.births();
    const [birth, data] = s.data([
      { ...sample('T', 1, 'd1'), quality: 'good' },
      { ...sample('T', 0, 'd1'), value: null, quality: 'bad' },
    ]);
    expect(birth!.payload.metrics[0]!.properties).toEqual({ Quality: { type: 'Int32', value: 192 } });
    expect(data!.payload.metrics[0]).toMatchObject({ value: null, properties: { Quality: { value: 0 } } });
  });
});
