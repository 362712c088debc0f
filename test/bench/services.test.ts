import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { afterAll, describe, expect, it } from 'vitest';
import { startMosquitto, startRedis } from '../../bench/lib/services.js';
import { killAllSync } from '../../bench/lib/procs.js';

// The bench starts its services with the test harness, built by `npm run build` (`npm test` builds first).
describe('bench services: the test harness, built, with the bench settings', () => {
  const parent = mkdtempSync(join(tmpdir(), 'passerelle-bench-services-'));
  afterAll(() => {
    killAllSync();
    rmSync(parent, { recursive: true, force: true });
  });

  it('starts Mosquitto in the given folder without persistence, tuned or with its defaults, and tracks it', async () => {
    for (const defaults of [false, true]) {
      const broker = await startMosquitto(parent, { defaults });
      expect(broker.dir.startsWith(parent)).toBe(true);
      expect(broker.pid).toBe(broker.child?.pid);
      const conf = readFileSync(join(broker.dir, 'mosquitto.conf'), 'utf8');
      expect(conf).toContain('persistence false');
      expect(conf.includes('max_queued_messages 1000000')).toBe(!defaults);
      const client = await mqtt.connectAsync(broker.url);
      await client.endAsync();
      await broker.dispose();
      expect(broker.child).toBeUndefined();
    }
  });

  it('starts Redis in the given folder, and the bench kills what it started on exit', async () => {
    const redis = await startRedis(parent);
    expect(redis.dir.startsWith(parent)).toBe(true);
    const client = new Redis(redis.port, '127.0.0.1');
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
    const exited = new Promise((resolve) => redis.child?.once('exit', resolve));
    killAllSync();
    await exited;
    expect(redis.child).toBeUndefined();
  });
});
