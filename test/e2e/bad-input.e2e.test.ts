/**
 * Bad input and bad configuration, end to end: each bad message is dead-lettered with a readable
 * reason and counted, the messages around it flow on; a bad pipeline file is refused with file:line.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, startRedis, type ServiceHandle } from '../harness/services.js';
import { collect } from './mqtt-tools.js';
import {
  CLI,
  metric,
  startService,
  tempDir,
  waitFor,
  waitReady,
  type ServiceProcess,
} from './service-process.js';

const exec = promisify(execFile);

async function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('bad input is dead-lettered, counted, and the stream goes on', { timeout: 120_000 }, () => {
  let broker: ServiceHandle;
  let redis: ServiceHandle;
  let service: ServiceProcess;
  const tmp = tempDir('bad-input');

  beforeAll(async () => {
    [broker, redis] = await Promise.all([startMosquitto(), startRedis({ appendOnly: true })]);
  });
  afterAll(async () => {
    service?.kill('SIGKILL');
    await Promise.all([broker, redis].map((h) => h?.dispose()));
    tmp.remove();
  });

  it('dead-letters invalid JSON, invalid UTF-8, an oversized payload and a wrong shape, and relays the rest', async () => {
    const file = tmp.write(
      'bad.yaml',
      `
name: bad-input
source:
  type: mqtt
  url: ${broker.url}
  topics: [in/json, in/text]
  qos: 1
  clientId: bad-input-source
  cleanSession: false
  maxPayloadBytes: 1048576
transforms:
  - type: map
    expression: '$merge([payload, {"fahrenheit": payload.celsius * 9 / 5 + 32}])'
sinks:
  - type: mqtt
    url: ${broker.url}
    topic: out/{{ topic[1] }}
    qos: 1
`,
    );
    const out = await collect(broker.url, 'out/#', { keepPayloads: true });
    service = await startService([file], { redisUrl: redis.url });
    await waitReady(service);

    const pub = await mqtt.connectAsync(broker.url);
    const good = (seq: number): string => JSON.stringify({ seq, celsius: 20 });
    await pub.publishAsync('in/json', good(1), { qos: 1 });
    await pub.publishAsync('in/json', '{"seq": 2, "celsius": ', { qos: 1 }); // invalid JSON
    await pub.publishAsync('in/json', good(3), { qos: 1 });
    await pub.publishAsync('in/json', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { qos: 1 }); // invalid UTF-8
    await pub.publishAsync('in/json', good(5), { qos: 1 });
    // Over maxPayloadBytes (1 MiB) but within the Maximum Packet Size the MQTT 5 source announces (+ 65 KiB).
    await pub.publishAsync('in/json', JSON.stringify({ seq: 6, pad: 'x'.repeat(1024 * 1024 + 20_000) }), {
      qos: 1,
    });
    await pub.publishAsync('in/json', good(7), { qos: 1 });
    await pub.publishAsync('in/json', JSON.stringify({ seq: 8, celsius: 'hot' }), { qos: 1 }); // wrong shape for the map
    await pub.publishAsync('in/json', good(9), { qos: 1 });
    // 10 MB: over the announced Maximum Packet Size, so the broker never sends it (it logs the drop).
    await pub.publishAsync('in/json', JSON.stringify({ seq: 10, pad: 'x'.repeat(10 * 1024 * 1024) }), {
      qos: 1,
    });
    await pub.endAsync();

    await waitFor(() => out.counts.size >= 5, 20_000, 'the five good messages');
    await waitFor(
      async () => (await metric(service, 'passerelle_messages_dead_lettered_total')) >= 4,
      10_000,
      'four dead letters',
    );
    expect([...out.counts.keys()].sort()).toEqual([1, 3, 5, 7, 9]);
    expect(out.payloads[0]).toMatchObject({ seq: 1, celsius: 20, fahrenheit: 68 });

    expect(await metric(service, 'passerelle_messages_received_total')).toBe(9);
    expect(await metric(service, 'passerelle_messages_dead_lettered_total', { stage: 'source' })).toBe(3);
    expect(await metric(service, 'passerelle_messages_dead_lettered_total', { stage: 'transforms[0]' })).toBe(
      1,
    );
    expect(await metric(service, 'passerelle_messages_delivered_total')).toBe(5);

    const list = await cli(['dlq', 'list', '--redis', redis.url, '--pipeline', 'bad-input']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/invalid JSON/i);
    expect(list.stdout).toMatch(/UTF-8/);
    expect(list.stdout).toMatch(/exceeds maxPayloadBytes/);
    expect(list.stdout).toMatch(/transforms\[0\]\tmap: the payload expression/);
    expect(list.stdout).toContain('4 shown of 4');

    // Replaying the transform's dead letter runs the map again: still bad, so it comes back with the reason.
    const json = await cli(['dlq', 'list', '--redis', redis.url, '--stage', 'transforms[0]', '--json']);
    const entry = JSON.parse(json.stdout.trim().split('\n')[0]!) as {
      id: string;
      message: { payload: unknown };
    };
    expect(entry.message.payload).toEqual({ seq: 8, celsius: 'hot' });
    const show = await cli(['dlq', 'show', entry.id, '--redis', redis.url]);
    expect(show.stdout).toContain('"celsius": "hot"');
    expect(show.stdout).toMatch(/must evaluate to a number/);
    // The oversized payload is kept as its first 64 KiB with its size and SHA-256, and cannot be replayed.
    const sourceEntries = (
      await cli(['dlq', 'list', '--redis', redis.url, '--stage', 'source', '--json'])
    ).stdout
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as {
            id: string;
            reason: string;
            stored?: { size: number; kept: number; sha256: string };
          },
      );
    const oversized = sourceEntries.find((e) => /exceeds maxPayloadBytes/.test(e.reason))!;
    const sent = JSON.stringify({ seq: 6, pad: 'x'.repeat(1024 * 1024 + 20_000) });
    expect(oversized.stored).toMatchObject({
      size: sent.length,
      kept: 65_536,
      sha256: createHash('sha256').update(sent).digest('hex'),
    });
    const redisClient = new Redis(redis.url);
    const fieldBytes = await redisClient.hstrlen('passerelle:dlq:entries', oversized.id);
    await redisClient.quit();
    expect(fieldBytes).toBeGreaterThan(65_536);
    expect(fieldBytes).toBeLessThan(100_000); // was 1.4 MB: the whole payload, base64-encoded
    const refused = await cli(['dlq', 'replay', oversized.id, '--redis', redis.url]);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain('0 dead letter(s) marked for replay');
    expect(refused.stderr).toMatch(
      /not replayed: .*only the first 65536 of 1068594 bytes .*not the original message/,
    );
    const purge = await cli(['dlq', 'purge', '--all', '--yes', '--stage', 'source', '--redis', redis.url]);
    expect(purge.stdout).toContain('3 dead letter(s) deleted');
    const replay = await cli(['dlq', 'replay', entry.id, '--redis', redis.url]);
    expect(replay.stdout).toContain('1 dead letter(s) marked for replay');
    await waitFor(
      async () =>
        (await metric(service, 'passerelle_messages_dead_lettered_total', { stage: 'transforms[0]' })) >= 2,
      10_000,
      'the replayed message to fail again',
    );
    const after = await cli(['dlq', 'list', '--redis', redis.url]);
    expect(after.stdout).toContain('1 shown of 1');
    await out.close();
  });
});

describe('bad configuration is refused with file, line and path', () => {
  const tmp = tempDir('bad-config');
  afterAll(() => tmp.remove());

  const cases: [string, string, RegExp][] = [
    [
      'typo in a key',
      'name: p\nsource:\n  type: simulator\n  rtae: 5\nsinks:\n  - type: log\n',
      /typo\.yaml:4:3: source\.rtae: unknown key.*did you mean 'rate'/,
    ],
    [
      'wrong type',
      'name: p\nsource:\n  type: simulator\n  rate: fast\nsinks:\n  - type: log\n',
      /wrong-type\.yaml:4:9: source\.rate: /,
    ],
    [
      'missing required field',
      'name: p\nsource:\n  type: mqtt\n  url: mqtt://127.0.0.1:1\nsinks:\n  - type: log\n',
      /missing\.yaml:3:3: source\.topics: required key is missing/,
    ],
    [
      'missing env variable',
      'name: p\nsource:\n  type: simulator\nsinks:\n  - type: mqtt\n    url: ${env:PASSERELLE_TEST_UNSET}\n    topic: t\n',
      /missing-env\.yaml:6:10: sinks\[0\]\.url: environment variable PASSERELLE_TEST_UNSET is not set/,
    ],
  ];

  for (const [what, text, expected] of cases) {
    it(`${what}: validate names it and run refuses to start`, async () => {
      const name = {
        'typo in a key': 'typo',
        'wrong type': 'wrong-type',
        'missing required field': 'missing',
        'missing env variable': 'missing-env',
      }[what]!;
      const file = tmp.write(`${name}.yaml`, text);
      const validate = await cli(['validate', file]);
      expect(validate.code).toBe(1);
      expect(validate.stderr).toMatch(expected);
      const run = await cli(['run', file, '--http', '127.0.0.1:0']);
      expect(run.code).toBe(1);
      expect(run.stderr).toMatch(expected);
    });
  }
});
