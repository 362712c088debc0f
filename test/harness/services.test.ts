import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { startMosquitto, startRedis, type ServiceHandle } from './services.js';

describe('test harness', () => {
  const handles: ServiceHandle[] = [];
  afterAll(async () => {
    for (const h of handles) await h.dispose();
  });

  it('starts a private Redis that keeps data across a restart with the append-only file', async () => {
    const redis = await startRedis({ appendOnly: true });
    handles.push(redis);
    const client = new Redis(redis.port, '127.0.0.1');
    await client.set('k', 'v');
    await client.quit();
    await redis.restart();
    const again = new Redis(redis.port, '127.0.0.1');
    expect(await again.get('k')).toBe('v');
    await again.quit();
  });

  it('starts a private Mosquitto', async () => {
    const broker = await startMosquitto();
    handles.push(broker);
    const client = await mqtt.connectAsync(broker.url);
    const got = new Promise<string>((resolve) => client.on('message', (_t, p) => resolve(p.toString())));
    await client.subscribeAsync('t', { qos: 1 });
    await client.publishAsync('t', 'hello', { qos: 1 });
    expect(await got).toBe('hello');
    await client.endAsync();
  });
});
