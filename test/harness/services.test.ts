import { afterAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import mqtt from 'mqtt';
import { existsSync, readFileSync } from 'node:fs';
import { startMosquitto, startRedis, startSecureMosquitto, type ServiceHandle } from './services.js';

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

  it('starts a private Mosquitto with passwords, and a TLS listener signed by its own CA', async () => {
    const broker = await startSecureMosquitto({ bridge: 's3cret-pass' });
    handles.push(broker);
    expect(broker.tlsUrl).toBe(`mqtts://127.0.0.1:${broker.tlsPort}`);
    const refused = await mqtt
      .connectAsync(broker.url, { reconnectPeriod: 0 })
      .then((c) => c.endAsync().then(() => 'accepted'))
      .catch((e: Error) => e.message);
    expect(refused).toMatch(/Not authorized|Bad User Name or Password/i);
    const plain = await mqtt.connectAsync(broker.url, { username: 'bridge', password: 's3cret-pass' });
    await plain.endAsync();
    const secure = await mqtt.connectAsync(broker.tlsUrl, {
      username: 'bridge',
      password: 's3cret-pass',
      ca: readFileSync(broker.ca),
      servername: 'localhost',
    });
    expect(secure.connected).toBe(true);
    await secure.endAsync();
    await broker.dispose();
    expect(existsSync(broker.ca)).toBe(false);
  });
});
