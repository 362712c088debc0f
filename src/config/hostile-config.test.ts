import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../registry/index.js';
import { clearSecretsForTests } from '../sdk/index.js';
import { fakeRegistry } from './fake-registry.fixture.js';
import { formatIssue } from './issues.js';
import { loadPipelineTexts } from './load.js';
import type { Registry } from '../registry/types.js';

/**
 * Values from `${env:}` and `${file:}` are never echoed in validation messages (the file might be
 * /etc/shadow), and `__proto__` / `constructor` keys are reported like any unknown key.
 */

const tmp = mkdtempSync(join(tmpdir(), 'passerelle-hostile-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => clearSecretsForTests());

// The first line of a shadow file, and an environment secret: neither may appear in any message.
const FILE_SECRET = 'root:$6$Zq9saltSALT$hashHASHhash:19000:0:99999:7:::';
const secretFile = join(tmp, 'shadow');
writeFileSync(secretFile, `${FILE_SECRET}\nsecond-line-of-the-file\n`);
const ENV_SECRET = 'envSecret-7Kq2';
const env = { SECRET: ENV_SECRET, NEAR_TYPE: 'mqtx', SHORT: 'ab' };

const load = (text: string, registry: Registry = fakeRegistry) =>
  loadPipelineTexts([{ file: join(tmp, 'p.yaml'), text }], registry, { env }).issues.map(formatIssue);

function expectNoSecret(messages: string[]): void {
  const all = messages.join('\n');
  expect(all).not.toContain('Zq9salt');
  expect(all).not.toContain('second-line');
  expect(all).not.toContain(ENV_SECRET);
  expect(all).not.toContain('7Kq2');
}

describe('interpolated values in validation messages', () => {
  it('says where a wrong value came from instead of printing it (fake registry, every issue kind)', () => {
    const text = `name: \${file:${secretFile}}
maxUnsettled: \${env:SECRET}
deadLetters: { maxCount: "\${file:${secretFile}}" }
source:
  type: mqtt
  url: u
  topics: \${env:SECRET}
  qos: \${file:${secretFile}}
  payload: \${env:SECRET}
  keepalive: \${file:${secretFile}}
  tls: { rejectUnauthorized: "\${env:SECRET}" }
transforms:
  - type: \${env:SECRET}
sinks:
  - type: \${env:NEAR_TYPE}
  - type: mqtt
    url: u
    topic: t
    name: "x/\${env:SECRET}"
`;
    const messages = load(text);
    expectNoSecret(messages);
    expect(messages.map((m) => m.replace(/^.*?: /, ''))).toEqual([
      `name: use letters, digits, "-" and "_", starting with a letter or digit, got the value from \${file:${secretFile}}`,
      'maxUnsettled: expected number, got the value from ${env:SECRET}',
      `deadLetters.maxCount: expected number, got the value from \${file:${secretFile}}`,
      'source.topics: expected a list, got the value from ${env:SECRET}',
      `source.qos: expected 0, 1 or 2, got the value from \${file:${secretFile}}`,
      'source.payload: expected "json", "text" or "bytes", got the value from ${env:SECRET}',
      `source.keepalive: expected a duration such as 500ms, 5s, 2m, 1h or 7d, got the value from \${file:${secretFile}}`,
      'source.tls.rejectUnauthorized: expected boolean, got the value from ${env:SECRET}',
      'transforms[0].type: unknown transform type from ${env:SECRET} (available: pseudonymise)',
      // A did-you-mean would tell the value too (one edit away from 'mqtt').
      'sinks[0].type: unknown sink type from ${env:NEAR_TYPE} (available: influxdb, mqtt)',
      'sinks[1].name: use letters, digits, "-" and "_", starting with a letter or digit, got the value from "x/${env:SECRET}"',
    ]);
  });

  it('does not print a short value either (under 4 characters)', () => {
    const messages = load(`name: a
source: { type: mqtt, url: u, topics: [t], qos: "\${env:SHORT}" }
sinks: [{ type: mqtt, url: u, topic: t }]
`);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain('source.qos: expected 0, 1 or 2, got the value from ${env:SHORT}');
    expect(messages[0]).not.toContain('"ab"');
  });

  it('does not print a duplicate pipeline name that came from a reference', () => {
    const doc = `name: \${env:SECRET}
source: { type: mqtt, url: u, topics: [t] }
sinks: [{ type: mqtt, url: u, topic: t }]
`;
    const messages = load(`${doc}---\n${doc}`);
    expectNoSecret(messages);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(
      /name: pipeline name from \$\{env:SECRET\} is already used at .*p\.yaml:1:7$/,
    );
  });

  it('hides the value in the messages of real connector specs (URL checks, template checks)', () => {
    const messages = load(
      `name: a
source:
  type: mqtt
  url: \${file:${secretFile}}
  topics: [t]
sinks:
  - type: mqtt
    url: mqtt://broker:1883
    topic: "out/{{ \${env:SECRET} }}"
  - type: influxdb
    url: \${env:SECRET}
    database: d
    measurement: m
`,
      builtinRegistry,
    );
    expectNoSecret(messages);
    expect(messages.map((m) => m.replace(/^.*?: /, ''))).toEqual([
      `source.url: expected a broker URL such as mqtt://host:1883, mqtts://host:8883, ws://host:8080/mqtt or wss://host/mqtt, got the value from \${file:${secretFile}}`,
      'sinks[0].topic: template "out/{{ ${env:SECRET} }}": unknown name "out/{{ ${env:SECRET} }}" (use payload, meta, topic[N], pipeline, id, time or date:FORMAT), got the value from "out/{{ ${env:SECRET} }}"',
      'sinks[1].url: expected an http:// or https:// URL without user name or password, such as http://influxdb:8086 (credentials go in username/password or token), got the value from ${env:SECRET}',
    ]);
  });
});

describe('__proto__ and constructor keys', () => {
  it('reports them as unknown keys wherever they are, with the line and column', () => {
    const text = `name: a
__proto__: { maxUnsettled: 1 }
source:
  type: mqtt
  url: u
  topics: [t]
  constructor: 1
  tls:
    __proto__: { ca: x }
sinks:
  - type: mqtt
    url: u
    topic: t
    retry: { constructor: 2 }
    __proto__: { qos: 0 }
`;
    const issues = loadPipelineTexts([{ file: 'p.yaml', text }], fakeRegistry, { env }).issues;
    expect(issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      "2:1 __proto__: unknown key '__proto__' (expected one of: deadLetters, description, maxUnsettled, name, schedule, shutdownTimeout, sinks, source, transforms)",
      "7:3 source.constructor: unknown key 'constructor' (expected one of: keepalive, password, payload, qos, tls, topics, type, url, username)",
      "9:5 source.tls.__proto__: unknown key '__proto__' (expected one of: ca, cert, key, passphrase, rejectUnauthorized, servername)",
      "14:14 sinks[0].retry.constructor: unknown key 'constructor' (expected one of: attempts, initialDelay, maxDelay)",
      "15:5 sinks[0].__proto__: unknown key '__proto__' (expected one of: batch, concurrency, maxQueued, name, password, qos, retain, retry, topic, type, url)",
    ]);
  });

  it('refuses a __proto__ key in a map (zod would drop it), keeps constructor there', () => {
    const text = `name: a
source: { type: mqtt, url: mqtt://b, topics: [t] }
sinks:
  - type: mqtt
    url: mqtt://b
    topic: t
    userProperties: { __proto__: x, ok: z }
`;
    const { issues } = loadPipelineTexts([{ file: 'p.yaml', text }], builtinRegistry, { env });
    expect(issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`)).toEqual([
      "7:23 sinks[0].userProperties.__proto__: key '__proto__' is not allowed (it can not be kept)",
    ]);
    const kept = loadPipelineTexts(
      [{ file: 'p.yaml', text: text.replace('__proto__: x', 'constructor: x') }],
      builtinRegistry,
      { env },
    );
    expect(kept.issues).toEqual([]);
    const config = kept.pipelines[0]!.sinks[0]!.config as { userProperties: Record<string, string> };
    expect(Object.entries(config.userProperties)).toEqual([
      ['constructor', 'x'],
      ['ok', 'z'],
    ]);
  });

  it('keeps constructor and __proto__ as plain values in a list', () => {
    const text = `name: a
source: { type: mqtt, url: u, topics: [t] }
transforms:
  - type: pseudonymise
    fields: [constructor, __proto__]
    key: \${env:SECRET}
sinks: [{ type: mqtt, url: u, topic: t }]
`;
    const { issues, pipelines } = loadPipelineTexts([{ file: 'p.yaml', text }], fakeRegistry, { env });
    expect(issues).toEqual([]);
    expect((pipelines[0]!.transforms[0]!.config as { fields: string[] }).fields).toEqual([
      'constructor',
      '__proto__',
    ]);
  });
});
