/** The README's first command: the demo runs on embedded defaults (no Redis, no broker) and relays data. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CLI } from './service-process.js';

const exec = promisify(execFile);

describe('passerelle demo', () => {
  it('relays simulated readings through the embedded broker, then stops cleanly', async () => {
    const { stdout, stderr } = await exec(process.execPath, [CLI, 'demo', '--duration', '4s'], {
      env: { ...process.env, PASSERELLE_LOG_LEVEL: 'warn' },
      timeout: 30_000,
    });
    expect(stderr).toMatch(/Demo broker: mqtt:\/\/127\.0\.0\.1:\d+/);
    expect(stderr).toContain('MEMORY outbox');
    const relayed = stdout
      .split('\n')
      .filter((l) => l.includes('temperatureF'))
      .map((l) => JSON.parse(l) as { payload: { temperature: number; temperatureF: number; site: string } });
    expect(relayed.length).toBeGreaterThan(10);
    for (const { payload } of relayed) {
      expect(payload.site).toBe('demo');
      expect(payload.temperatureF).toBeCloseTo((payload.temperature * 9) / 5 + 32, 0);
    }
  });
});
