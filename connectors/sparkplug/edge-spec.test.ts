import { describe, expect, it } from 'vitest';
import { sparkplugSinkConfig } from './edge-spec.js';

const base = { url: 'mqtt://broker:1883', groupId: 'plant', edgeNodeId: 'e1' };
const problems = (input: unknown): string[] => {
  const r = sparkplugSinkConfig.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('sparkplug sink config', () => {
  it('accepts the smallest config with the defaults', () => {
    const c = sparkplugSinkConfig.parse(base);
    expect(c).toMatchObject({ aliases: true, metrics: [], maxMetricsPerMessage: 1000, protocolVersion: 5 });
  });

  it('refuses ids with / + # and empty ids (topic levels)', () => {
    expect(problems({ ...base, groupId: 'a/b' })).toEqual([
      expect.stringMatching(/^groupId: .*"\/", "\+" or "#"/),
    ]);
    expect(problems({ ...base, edgeNodeId: 'e+' })).toHaveLength(1);
    expect(problems({ ...base, primaryHostId: '#' })).toHaveLength(1);
    expect(problems({ ...base, metrics: [{ name: 'x', device: '', dataType: 'Double' }] })).toHaveLength(1);
  });

  it('refuses a declared value its datatype can not hold, duplicates and reserved names', () => {
    expect(problems({ ...base, metrics: [{ name: 'x', dataType: 'Int8', value: 300 }] })).toEqual([
      expect.stringMatching(/^metrics\.0\.value: not a Int8: .*range/),
    ]);
    expect(
      problems({
        ...base,
        metrics: [
          { name: 'x', device: 'd', dataType: 'Double' },
          { name: 'x', device: 'd', dataType: 'Int32' },
        ],
      }),
    ).toEqual([expect.stringMatching(/declared twice for device d/)]);
    expect(problems({ ...base, metrics: [{ name: 'bdSeq', dataType: 'Int64' }] })).toEqual([
      expect.stringMatching(/publishes itself/),
    ]);
    expect(
      problems({ ...base, metrics: [{ name: 'Node Control/Rebirth', dataType: 'Boolean' }] }),
    ).toHaveLength(1);
  });

  it('refuses tls on a plain URL, unknown keys and broken templates', () => {
    expect(problems({ ...base, tls: { ca: '/x' } })).toEqual([expect.stringMatching(/^tls: /)]);
    expect(problems({ ...base, qos: 1 })).toEqual([expect.stringMatching(/qos/)]);
    expect(problems({ ...base, device: '{{ payload.line' })).toHaveLength(1);
  });
});
