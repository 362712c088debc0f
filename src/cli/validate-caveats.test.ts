import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinRegistry } from '../registry/index.js';
import { main } from './main.js';

const tmp = mkdtempSync(join(tmpdir(), 'passerelle-caveats-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function validate(sink: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const file = join(tmp, `p${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(
    file,
    `name: history
source: { type: mqtt, url: mqtt://edge:1883, topics: [plant/#], qos: 1, cleanSession: false, clientId: h }
sinks:
  - type: influxdb
    url: http://influxdb:8086
    database: plant
    measurement: readings
${sink}`,
  );
  let stdout = '';
  let stderr = '';
  const code = await main(['validate', file], {
    registry: builtinRegistry,
    env: {},
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
  });
  return { code, stdout, stderr };
}

describe('passerelle validate: where InfluxDB may merge points', () => {
  it('says nothing more with the default time: every message is its own point', async () => {
    const { code, stdout, stderr } = await validate('');
    expect(stderr).toBe('');
    expect(stdout).toBe(
      'history: valid — source mqtt (at-least-once) -> sinks: influxdb at-least-once, idempotent\n',
    );
    expect(code).toBe(0);
  });

  it('says that points with the same `timestamp` of one series are one point', async () => {
    const { code, stdout } = await validate('    timestamp: payload.ts\n');
    expect(stdout.split('\n')).toEqual([
      'history: valid — source mqtt (at-least-once) -> sinks: influxdb at-least-once, idempotent',
      '  influxdb: points of one series (measurement and tags) with the same time from `timestamp: payload.ts` (at precision ms) are one point in InfluxDB: the later message replaces the earlier',
      '',
    ]);
    expect(code).toBe(0);
  });

  it('says so for a precision coarser than the message time', async () => {
    const { stdout } = await validate('    precision: ms\n');
    expect(stdout).toContain(
      '  influxdb: precision ms is coarser than the message time (microseconds): messages of one series received in the same millisecond are one point in InfluxDB',
    );
    expect((await validate('    precision: ns\n')).stdout.split('\n').length).toBe(2);
  });
});

describe('passerelle validate: a schedule without Redis', () => {
  const file = join(tmp, 'scheduled.yaml');
  writeFileSync(
    file,
    `name: shift-counters
schedule: { cron: '0 6,14,22 * * *', timeZone: Europe/Paris }
source: { type: simulator }
sinks: [{ type: log }]
`,
  );
  async function run(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const code = await main(['validate', file], {
      registry: builtinRegistry,
      env,
      stdout: (s) => (stdout += s),
      stderr: (s) => (stderr += s),
    });
    return { code, stdout, stderr };
  }

  it('says what running the schedule in one process loses', async () => {
    const { code, stdout, stderr } = await run({});
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout.split('\n').slice(1)).toEqual([
      '  schedule: no Redis (--redis or PASSERELLE_REDIS_URL): the schedule runs in this process only. Ticks due while it is down are not known (not run, not counted, whatever `missed` says), and two processes with this pipeline would both run every tick.',
      '',
    ]);
  });

  it('says nothing of it with Redis', async () => {
    const { stdout } = await run({ PASSERELLE_REDIS_URL: 'redis://redis:6379' });
    expect(stdout).not.toContain('schedule:');
    expect(stdout.split('\n')).toHaveLength(2);
  });
});
