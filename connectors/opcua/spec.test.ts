import { describe, expect, it } from 'vitest';
import { loadPipelineTexts, formatIssue } from '../../src/config/index.js';
import { builtinRegistry } from '../../src/registry/index.js';
import { nodeIdProblem, opcuaSourceConfig } from './spec.js';

const URL = 'opc.tcp://plc:4840';
const issues = (result: {
  success: boolean;
  error?: { issues: { path: PropertyKey[]; message: string }[] };
}): string[] =>
  result.success ? [] : (result.error?.issues ?? []).map((i) => `${i.path.join('.')}: ${i.message}`);

describe('opcua config', () => {
  it('the smallest config is small, with sensible defaults', () => {
    const c = opcuaSourceConfig.parse({ url: URL, nodes: ['ns=2;s=Line1.Temperature'] });
    expect(c).toMatchObject({
      mode: 'subscription',
      securityMode: 'None',
      publishingInterval: 1000,
      pollInterval: 1000,
      watchdog: 30_000,
      badQuality: 'forward',
      applicationName: 'passerelle',
      reconnectDelay: 1000,
      reconnectMaxDelay: 30_000,
    });
  });

  it.each([
    ['ns=2;s=Line1.Temperature', undefined],
    ['i=2258', undefined],
    ['nsu=urn:plant:line1;s=Motor.Speed', undefined],
    ['ns=1;g=72962B91-FA75-4AE6-8D28-B404DC7DAF63', undefined],
    ['ns=3;b=AAEC/v8=', undefined],
    ['ns=2;x=Temp', 'is not a NodeId'],
    ['Temperature', 'is not a NodeId'],
    ['ns=70000;i=1', 'above 65535'],
    ['ns=2;i=99999999999', 'above 4294967295'],
    ['ns=2;i=12a', 'is not a NodeId'],
  ])('NodeId %s', (text, problem) => {
    if (problem === undefined) expect(nodeIdProblem(text)).toBeUndefined();
    else expect(nodeIdProblem(text)).toContain(problem);
  });

  it('refuses a malformed NodeId with a readable message', () => {
    expect(issues(opcuaSourceConfig.safeParse({ url: URL, nodes: ['ns=2;Temperature'] }))).toEqual([
      'nodes.0: "ns=2;Temperature" is not a NodeId: expected ns=<index>;s=<name>, ns=<index>;i=<number>, i=<number>, nsu=<namespace URI>;s=<name> (also g=<guid>, b=<base64>)',
    ]);
  });

  it('refuses the deprecated policies with the reason, and unknown ones with the list', () => {
    for (const policy of ['Basic128Rsa15', 'Basic256']) {
      const out = issues(
        opcuaSourceConfig.safeParse({
          url: URL,
          securityMode: 'SignAndEncrypt',
          securityPolicy: policy,
          nodes: ['i=2258'],
        }),
      );
      expect(out).toHaveLength(1);
      expect(out[0]).toMatch(
        new RegExp(`^securityPolicy: ${policy} is deprecated .*disabled in Node 20.*Basic256Sha256`),
      );
    }
    expect(
      issues(
        opcuaSourceConfig.safeParse({
          url: URL,
          securityMode: 'Sign',
          securityPolicy: 'Basic512',
          nodes: ['i=2258'],
        }),
      ),
    ).toEqual([
      'securityPolicy: unknown security policy "Basic512": expected one of None, Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss',
    ]);
  });

  it('checks that mode, policy and identity fit together', () => {
    expect(
      issues(opcuaSourceConfig.safeParse({ url: URL, securityPolicy: 'Basic256Sha256', nodes: ['i=1'] })),
    ).toEqual(['securityPolicy: securityPolicy Basic256Sha256 needs securityMode Sign or SignAndEncrypt']);
    expect(issues(opcuaSourceConfig.safeParse({ url: URL, username: 'u', nodes: ['i=1'] }))).toEqual([
      'password: username and password go together',
    ]);
    expect(
      issues(
        opcuaSourceConfig.safeParse({
          url: URL,
          username: 'u',
          password: 'p',
          userCertificate: 'c.pem',
          userPrivateKey: 'k.pem',
          nodes: ['i=1'],
        }),
      ),
    ).toEqual([
      'userCertificate: choose one user identity: username/password or userCertificate/userPrivateKey',
    ]);
  });

  it('checks nodes, deadbands, fingerprints, the URL and unknown keys', () => {
    expect(issues(opcuaSourceConfig.safeParse({ url: 'http://plc:4840', nodes: ['i=1'] }))).toEqual([
      'url: expected an endpoint URL such as opc.tcp://plc:4840',
    ]);
    expect(
      issues(opcuaSourceConfig.safeParse({ url: URL, nodes: [{ nodeId: 'i=1', browsePath: 'A/B' }] })),
    ).toEqual(['nodes.0: give exactly one of nodeId, browsePath or folder']);
    expect(
      issues(opcuaSourceConfig.safeParse({ url: URL, nodes: [{ nodeId: 'i=1', include: ['*'] }] })),
    ).toEqual(['nodes.0: include and exclude apply to folder nodes only']);
    expect(
      issues(
        opcuaSourceConfig.safeParse({ url: URL, nodes: ['i=1'], deadband: { type: 'percent', value: 150 } }),
      ),
    ).toEqual(['deadband.value: a percent deadband is between 0 and 100']);
    expect(
      issues(opcuaSourceConfig.safeParse({ url: URL, nodes: ['i=1'], trustedServerFingerprints: ['abc'] })),
    ).toEqual(['trustedServerFingerprints.0: expected a SHA-1 fingerprint: 40 hex digits, colons allowed']);
    expect(
      issues(opcuaSourceConfig.safeParse({ url: URL, nodes: ['i=1'], publishingInterval: '20s' })),
    ).toEqual(['watchdog: the watchdog must be at least 3 publishing intervals (60000 ms)']);
    expect(
      issues(opcuaSourceConfig.safeParse({ url: URL, nodes: ['i=1'], samplingIntervall: '1s' }))[0],
    ).toMatch(/samplingIntervall/);
  });

  it('in a pipeline file: errors point at the line, secrets must be references', async () => {
    const text = [
      'name: plc',
      'source:',
      '  type: opcua',
      '  url: opc.tcp://plc:4840',
      '  securityMode: SignAndEncrypt',
      '  securityPolicy: Basic128Rsa15',
      '  username: bridge',
      '  password: plain-text-password',
      '  nodes: [ns=2;s=A]',
      'sinks:',
      '  - type: log',
      '',
    ].join('\n');
    const result = await loadPipelineTexts([{ file: 'plc.yaml', text }], builtinRegistry, { env: {} });
    const out = result.issues.map(formatIssue).join('\n');
    expect(out).toMatch(/plc\.yaml:6:\d+: source\.securityPolicy: Basic128Rsa15 is deprecated/);
    expect(out).toMatch(/plc\.yaml:8:\d+: source\.password: .*\$\{env:/);
  });
});
