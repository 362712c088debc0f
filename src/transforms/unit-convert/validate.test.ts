import { afterEach, describe, expect, it } from 'vitest';
import { formatIssue, loadPipelineTexts } from '../../config/index.js';
import { builtinRegistry, loadComponent } from '../../registry/index.js';
import { clearSecretsForTests, createMessage, noopMetrics, type Message } from '../../sdk/index.js';
import { createTestTransformContext } from '../../../test/conformance/transform.js';

/** The privacy, integrity and unit transforms through the real pipeline loader, as `passerelle validate` sees them. */

const KEY = 'q0nW8p7g9r1eZb2yVx3c4u5i6o7p8a9s0d1f2g3h4j8='; // 32 bytes, base64
const env = { PSEUDONYM_KEY: KEY, CHECKSUM_KEY: KEY };

const pipeline = (transforms: string) => `
name: privacy
source: { type: mqtt, url: mqtt://localhost:1883, topics: [site/+/up] }
transforms:
${transforms}
sinks:
  - { type: mqtt, url: mqtt://localhost:1883, topic: out }
`;

const all = `  - type: pseudonymize
    key: \${env:PSEUDONYM_KEY}
    keyId: k1
    fields: [payload.owner]
    topicLevels: [1]
  - type: redact
    fields: [payload.phone]
  - type: generalize
    locations: [{ at: payload.gps, decimals: 2 }]
    time: { truncate: minute }
  - type: unit-convert
    fields: [{ path: payload.temperature, from: degF, to: degC, decimals: 1 }]
  - type: checksum
    algorithm: hmac-sha256
    key: \${env:CHECKSUM_KEY}
    userProperty: checksum
  - type: verify-checksum
    algorithm: hmac-sha256
    key: \${env:CHECKSUM_KEY}
    userProperty: checksum
    strip: true`;

afterEach(() => clearSecretsForTests());

describe('privacy, integrity and unit transforms in a pipeline file', () => {
  it('validate accepts them, and the configs it produces run end to end', async () => {
    const result = loadPipelineTexts([{ file: 'privacy.yaml', text: pipeline(all) }], builtinRegistry, {
      env,
    });
    expect(result.issues.map(formatIssue)).toEqual([]);
    const configs = result.pipelines[0]?.transforms ?? [];
    expect(configs.map((t) => t.type)).toEqual([
      'pseudonymize',
      'redact',
      'generalize',
      'unit-convert',
      'checksum',
      'verify-checksum',
    ]);
    const ctx = {
      pipeline: 'privacy',
      component: 'transforms',
      logger: createTestTransformContext().logger,
      countDropped() {},
      async deadLetter() {},
      metrics: noopMetrics,
    };
    let batch: Message[] = [
      createMessage({
        id: 'm1',
        payload: { owner: 'alice', phone: '+33 6', gps: { lat: 48.858844, lon: 2.294351 }, temperature: 70 },
        meta: { 'mqtt.topic': 'site/boiler-7/up' },
        time: Date.UTC(2024, 0, 1, 10, 37, 12),
      }),
    ];
    const test = createTestTransformContext();
    for (const config of configs) {
      const definition = await loadComponent(builtinRegistry.transforms.find((d) => d.type === config.type)!);
      batch = await definition.create(config.config as never, ctx).apply(batch, test);
    }
    expect(test.rejected).toEqual([]);
    expect(batch).toHaveLength(1);
    const [out] = batch as [Message];
    expect(out.payload).toEqual({
      owner: expect.stringMatching(/^k1:[A-Za-z0-9_-]{22}$/),
      gps: { lat: 48.86, lon: 2.29 },
      temperature: 21.1,
    });
    expect(out.meta['mqtt.topic']).toMatch(/^site\/k1:[A-Za-z0-9_-]{22}\/up$/);
    expect(out.meta['mqtt.userProperties']).toBeUndefined();
    expect(out.time).toBe(Date.UTC(2024, 0, 1, 10, 37));
  });

  it('validate reports a unit typo and a bad path with the file, line and a suggestion', () => {
    const broken = `  - type: pseudonymize
    key: \${env:PSEUDONYM_KEY}
    keyId: k1
    fields: [owner]
  - type: unit-convert
    fields:
      - { path: payload.t, from: degf, to: degC }`;
    const result = loadPipelineTexts([{ file: 'broken.yaml', text: pipeline(broken) }], builtinRegistry, {
      env,
    });
    expect(result.issues.map(formatIssue)).toEqual([
      'broken.yaml:8:14: transforms[0].fields[0]: "owner" does not start at the payload: write payload.<field>, e.g. payload.owner',
      'broken.yaml:11:34: transforms[1].fields[0].from: unknown unit "degf": did you mean degF?',
    ]);
  });

  it('validate reports a key that is too short without printing it', () => {
    const short = 'c2hvcnQta2V5';
    const text = pipeline(all.replace('${env:CHECKSUM_KEY}', '${env:SHORT_KEY}'));
    const result = loadPipelineTexts([{ file: 'short.yaml', text }], builtinRegistry, {
      env: { ...env, SHORT_KEY: short },
    });
    const printed = result.issues.map(formatIssue);
    expect(printed).toEqual([
      expect.stringMatching(
        /^short\.yaml:\d+:\d+: transforms\[4\]\.key: the key is 9 bytes long \(as base64\); at least 32 are needed/,
      ),
    ]);
    expect(printed.join('\n')).not.toContain(short);
  });
});
