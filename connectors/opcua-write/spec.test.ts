import { describe, expect, it } from 'vitest';
import { opcuaWriteSinkConfig } from './spec.js';

const URL = 'opc.tcp://plc:4840';
const issues = (result: {
  success: boolean;
  error?: { issues: { path: PropertyKey[]; message: string }[] };
}): string[] =>
  result.success ? [] : (result.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);

describe('opcua-write config', () => {
  it('checks the write sink node id template and value path', () => {
    expect(opcuaWriteSinkConfig.parse({ url: URL, nodeId: 'ns=2;s=Sp.{{ topic[2] }}' }).value).toBe(
      'payload',
    );
    expect(issues(opcuaWriteSinkConfig.safeParse({ url: URL, nodeId: 'ns=2;q=x' }))[0]).toMatch(
      /nodeId: .*is not a NodeId/,
    );
    expect(issues(opcuaWriteSinkConfig.safeParse({ url: URL, nodeId: 'ns=2;s={{ nope }}' }))[0]).toMatch(
      /unknown name "nope"/,
    );
    expect(issues(opcuaWriteSinkConfig.safeParse({ url: URL, nodeId: 'i=1', value: 'nope.x' }))[0]).toMatch(
      /^value: .*unknown name/,
    );
  });
});
