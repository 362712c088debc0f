import { describe, expect, it } from 'vitest';
import { sparkplugCommandsConfig } from './spec.js';

const base = { url: 'mqtt://broker:1883', groupId: 'plant', edgeNodeId: 'e1' };

describe('sparkplug-commands config', () => {
  it('needs at least one writable metric', () => {
    expect(sparkplugCommandsConfig.safeParse(base).success).toBe(false);
    expect(sparkplugCommandsConfig.safeParse({ ...base, writable: [] }).success).toBe(false);
    expect(
      sparkplugCommandsConfig.parse({ ...base, writable: [{ metric: 'Setpoints/*' }] }).writable,
    ).toEqual([{ metric: 'Setpoints/*' }]);
  });
});
