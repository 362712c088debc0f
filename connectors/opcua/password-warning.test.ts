import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { logConfigWarnings } from '../../src/cli/commands/run.js';
import { loadPipelineTexts } from '../../src/config/load.js';
import { builtinRegistry } from '../../src/registry/index.js';
import { clearSecretsForTests, type Logger } from '../../src/sdk/index.js';

/**
 * With securityMode None, a user password is encrypted to the server certificate that came over a
 * channel nobody authenticated: a machine in the middle offers its own and reads the password.
 * validate and the start of the service say so.
 */

const tmp = mkdtempSync(join(tmpdir(), 'passerelle-opcua-warning-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => clearSecretsForTests());
const env = { OPCUA_PASSWORD: 'opcua-secret-9' };

const pipeline = (
  securityMode: string,
  identity = 'username: bridge\n  password: ${env:OPCUA_PASSWORD}',
) => `name: plc-${securityMode.toLowerCase()}
source:
  type: opcua
  url: opc.tcp://plc:4840
  securityMode: ${securityMode}
  ${identity}
  nodes: [ns=2;s=Line1.Temperature]
sinks:
  - type: opcua-write
    url: opc.tcp://plc:4841
    securityMode: ${securityMode}
    ${identity.replace('\n  ', '\n    ')}
    nodeId: ns=2;s=Setpoint
`;

const WARNING =
  'securityMode None: the password is encrypted to a server certificate received over an unauthenticated channel, so anyone in between can read it; use securityMode SignAndEncrypt with trustedServerFingerprints';

describe('OPC UA securityMode None with a user name and password', () => {
  it('is valid, with a warning at the password of the source and of the sink', () => {
    const result = loadPipelineTexts([{ file: 'p.yaml', text: pipeline('None') }], builtinRegistry, { env });
    expect(result.issues).toEqual([]);
    expect(result.pipelines).toHaveLength(1);
    expect(result.warnings.map((w) => `${w.line}:${w.column} ${w.path}: ${w.message}`)).toEqual([
      `7:13 source.password: ${WARNING}`,
      `14:15 sinks[0].password: ${WARNING}`,
    ]);
  });

  it('gives no warning with SignAndEncrypt, or without a password', () => {
    for (const text of [pipeline('SignAndEncrypt'), pipeline('None', '')]) {
      const result = loadPipelineTexts([{ file: 'p.yaml', text }], builtinRegistry, { env });
      expect(result.issues).toEqual([]);
      expect(result.warnings).toEqual([]);
    }
  });

  it('passerelle validate prints the warning and exits 0', async () => {
    const file = join(tmp, 'plc.yaml');
    writeFileSync(file, pipeline('None'));
    let stdout = '';
    let stderr = '';
    const code = await main(['validate', file], {
      env,
      stdout: (s) => (stdout += s),
      stderr: (s) => (stderr += s),
    });
    expect(code).toBe(0);
    expect(stdout).toMatch(/^plc-none: valid/);
    expect(stderr).toBe(
      `${file}:7:13: source.password: warning: ${WARNING}\n${file}:14:15: sinks[0].password: warning: ${WARNING}\n`,
    );
  });

  it('is logged at start', () => {
    const { pipelines } = loadPipelineTexts([{ file: 'p.yaml', text: pipeline('None') }], builtinRegistry, {
      env,
    });
    const logged: [object, string | undefined][] = [];
    const logger = { warn: (obj: object, msg?: string) => logged.push([obj, msg]) } as unknown as Logger;
    let stderr = '';
    logConfigWarnings(pipelines, builtinRegistry, logger, (s) => (stderr += s));
    expect(logged).toEqual([
      [{ pipeline: 'plc-none', path: 'source.password' }, WARNING],
      [{ pipeline: 'plc-none', path: 'sinks[0].password' }, WARNING],
    ]);
    expect(stderr).toBe(
      `WARNING: pipeline plc-none, source.password: ${WARNING}\nWARNING: pipeline plc-none, sinks[0].password: ${WARNING}\n`,
    );
    expect(stderr).not.toContain('opcua-secret-9');
  });
});
