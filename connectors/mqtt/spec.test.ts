import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { isSecretSchema } from '../../src/sdk/index.js';
import { mqttSinkConfig, mqttSourceConfig, topicFilterProblem } from './spec.js';

function issues(schema: z.ZodType, value: unknown): string[] {
  const result = schema.safeParse(value);
  return result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('mqtt source config', () => {
  it('applies the documented defaults, durations in milliseconds', () => {
    const c = mqttSourceConfig.parse({ url: 'mqtt://broker:1883', topics: ['a/#'] });
    expect(c).toMatchObject({
      qos: 1,
      cleanSession: true,
      protocolVersion: 5,
      payload: 'json',
      maxPayloadBytes: 1048576,
      receiveMaximum: 1000,
      batchSize: 500,
      keepalive: 60_000,
      connectTimeout: 30_000,
      reconnectDelay: 1000,
      reconnectMaxDelay: 30_000,
    });
    expect(c.sessionExpiry).toBeUndefined();
  });

  it('requires a clientId for a persistent session, with a clear message', () => {
    expect(issues(mqttSourceConfig, { url: 'mqtt://b', topics: ['a'], cleanSession: false })).toEqual([
      'clientId: cleanSession: false needs a fixed clientId, so that the broker finds the session again after a reconnect or restart',
    ]);
    expect(
      issues(mqttSourceConfig, { url: 'mqtt://b', topics: ['a'], cleanSession: false, clientId: 'x' }),
    ).toEqual([]);
  });

  it('rejects unknown keys, bad URLs, invalid filters, tls without a TLS scheme, sessionExpiry with 3.1.1', () => {
    expect(issues(mqttSourceConfig, { url: 'mqtt://b', topics: ['a'], qos2: 1 })[0]).toMatch(/qos2/);
    expect(issues(mqttSourceConfig, { url: 'http://b', topics: ['a'] })[0]).toMatch(
      /^url: expected a broker URL/,
    );
    expect(issues(mqttSourceConfig, { url: 'mqtt://b', topics: ['a/#/b'] })).toEqual([
      'topics.0: # must be a whole level and the last one',
    ]);
    expect(issues(mqttSourceConfig, { url: 'mqtt://b', topics: [] })[0]).toMatch(/^topics:/);
    expect(issues(mqttSourceConfig, { url: 'mqtt://b', topics: ['a'], tls: { ca: '/ca.pem' } })).toEqual([
      'tls: tls is set but the url is not mqtts:// or wss://: TLS is chosen by the URL scheme',
    ]);
    expect(issues(mqttSourceConfig, { url: 'mqtts://b', topics: ['a'], tls: { ca: '/ca.pem' } })).toEqual([]);
    expect(
      issues(mqttSourceConfig, { url: 'mqtt://b', topics: ['a'], protocolVersion: 4, sessionExpiry: '1h' }),
    ).toEqual(['sessionExpiry: sessionExpiry needs protocolVersion 5 (with 3.1.1 the broker decides)']);
    expect(issues(mqttSourceConfig, { url: 'mqtt://b', topics: ['a'], qos: 3 })[0]).toMatch(/^qos:/);
  });

  it('marks the password as a secret and describes every field', () => {
    expect(isSecretSchema(mqttSourceConfig.shape.password.unwrap())).toBe(true);
    for (const schema of [mqttSourceConfig, mqttSinkConfig]) {
      for (const [key, field] of Object.entries(schema.shape)) {
        // An optional field may carry its description on the inner schema (secret(), tlsOptions, duration()).
        const f = field as z.ZodType & { unwrap?: () => z.ZodType };
        expect(f.description ?? f.unwrap?.().description, key).toBeTruthy();
      }
    }
  });
});

describe('topic filters', () => {
  it.each([
    ['a/+/c', undefined],
    ['#', undefined],
    ['a/#', undefined],
    ['$share/grp/a/+/c', undefined],
    ['a/b+', '+ must be a whole level'],
    ['a#', '# must be a whole level and the last one'],
    ['$share/grp', 'a shared subscription is $share/<group>/<filter>'],
    ['$share//a', 'a shared subscription is $share/<group>/<filter>'],
    ['$share/g+/a', 'a share group name can not contain + or #'],
    ['', 'a topic filter can not be empty'],
  ])('%s', (filter, problem) => {
    expect(topicFilterProblem(filter)).toBe(problem);
  });
});

describe('mqtt sink config', () => {
  it('applies the documented defaults', () => {
    expect(mqttSinkConfig.parse({ url: 'ws://b:8080/mqtt', topic: 'out/{{ topic[1] }}' })).toMatchObject({
      qos: 1,
      retain: false,
      payload: 'json',
      maxUnacked: 100,
    });
  });

  it('rejects bad templates and MQTT 5 features with protocolVersion 4', () => {
    expect(issues(mqttSinkConfig, { url: 'mqtt://b', topic: 'a/{{ nope }}' })[0]).toMatch(
      /^topic: template "a\/\{\{ nope \}\}": unknown name "nope"/,
    );
    expect(issues(mqttSinkConfig, { url: 'mqtt://b', topic: 'a/{{ payload.x' })[0]).toMatch(
      /^topic: unclosed/,
    );
    expect(
      issues(mqttSinkConfig, { url: 'mqtt://b', topic: 'a', userProperties: { k: '{{ topic }}' } })[0],
    ).toMatch(/^userProperties.k: .*topic\[N\]/);
    expect(
      issues(mqttSinkConfig, {
        url: 'mqtt://b',
        topic: 'a',
        protocolVersion: 4,
        userProperties: { k: 'v' },
        messageExpiry: '1h',
      }),
    ).toEqual([
      'userProperties: userProperties need protocolVersion 5',
      'messageExpiry: messageExpiry needs protocolVersion 5',
    ]);
    expect(issues(mqttSinkConfig, { url: 'mqtt://b', topic: 'a', batch: {} })[0]).toMatch(/batch/);
  });
});
