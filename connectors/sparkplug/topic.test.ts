import { describe, expect, it } from 'vitest';
import {
  formatTopic,
  groupFilter,
  invalidIdReason,
  parseStatePayload,
  parseTopic,
  statePayload,
  stateTopic,
} from './topic.js';

describe('Sparkplug topics', () => {
  it('parses node, device and STATE topics', () => {
    expect(parseTopic('spBv1.0/Plant1/NBIRTH/line-1')).toEqual({
      kind: 'node',
      groupId: 'Plant1',
      messageType: 'NBIRTH',
      edgeNodeId: 'line-1',
    });
    expect(parseTopic('spBv1.0/Plant1/DDATA/line-1/press 2')).toEqual({
      kind: 'device',
      groupId: 'Plant1',
      messageType: 'DDATA',
      edgeNodeId: 'line-1',
      deviceId: 'press 2',
    });
    expect(parseTopic('spBv1.0/STATE/scada-1')).toEqual({ kind: 'state', hostId: 'scada-1' });
  });

  it.each([
    ['spAv1.0/G/NBIRTH/E', 'not in the spBv1.0 namespace'],
    ['spBv1.0/G/NBIRTH', '3 levels'],
    ['spBv1.0/G/NBIRTH/E/D', 'has no device id level'],
    ['spBv1.0/G/DDATA/E', 'needs a device id'],
    ['spBv1.0/G/XDATA/E', 'unknown message type'],
    ['spBv1.0//NDATA/E', 'group id is empty'],
    ['spBv1.0/G/NDATA/E/D/x', '6 levels'],
  ])('refuses %s with a reason', (topic, reason) => {
    const parsed = parseTopic(topic);
    expect(parsed).toHaveProperty('error');
    expect((parsed as { error: string }).error).toContain(reason);
  });

  it('formats what it parses', () => {
    for (const topic of ['spBv1.0/G/NCMD/E', 'spBv1.0/G/DCMD/E/D', 'spBv1.0/G/NDEATH/E']) {
      const parsed = parseTopic(topic);
      if ('error' in parsed || parsed.kind === 'state') throw new Error('unexpected');
      expect(formatTopic(parsed)).toBe(topic);
    }
    expect(stateTopic('host')).toBe('spBv1.0/STATE/host');
    expect(groupFilter('+')).toBe('spBv1.0/+/#');
    expect(groupFilter('Plant1')).toBe('spBv1.0/Plant1/#');
  });

  it('refuses ids that would change the topic structure', () => {
    expect(invalidIdReason('a/b')).toContain('"/"');
    expect(invalidIdReason('a+')).toBeDefined();
    expect(invalidIdReason('#')).toBeDefined();
    expect(invalidIdReason('')).toBe('is empty');
    expect(() => formatTopic({ groupId: 'G', messageType: 'DDATA', edgeNodeId: 'E' })).toThrow(
      'needs a device id',
    );
    expect(() => formatTopic({ groupId: 'G/x', messageType: 'NDATA', edgeNodeId: 'E' })).toThrow('group id');
    expect(() => stateTopic('h#')).toThrow('host id');
  });

  it('writes and reads the Sparkplug 3.0 STATE payload', () => {
    const text = statePayload(true, 1700000000000);
    expect(JSON.parse(text)).toEqual({ online: true, timestamp: 1700000000000 });
    expect(parseStatePayload(Buffer.from(text))).toEqual({ online: true, timestamp: 1700000000000 });
    expect(parseStatePayload('ONLINE')).toHaveProperty('error');
    expect(parseStatePayload('{"online":"yes","timestamp":1}')).toHaveProperty('error');
  });
});
