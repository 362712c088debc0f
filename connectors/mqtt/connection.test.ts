import { createRequire } from 'node:module';
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/sdk/index.js';
import { backoffDelay, redactUrl } from '../../src/sdk/index.js';
import { clientOptions } from './connection.js';
import { mqttSourceConfig } from './spec.js';

describe('connection helpers', () => {
  it('backs off exponentially with jitter, up to the maximum', () => {
    for (let attempt = 0; attempt < 12; attempt++) {
      const ceiling = Math.min(30_000, 1000 * 2 ** attempt);
      for (let i = 0; i < 50; i++) {
        const d = backoffDelay(attempt, 1000, 30_000);
        expect(d).toBeGreaterThanOrEqual(ceiling / 2);
        expect(d).toBeLessThanOrEqual(ceiling);
      }
    }
    const samples = new Set(Array.from({ length: 20 }, () => backoffDelay(3, 1000, 30_000)));
    expect(samples.size).toBeGreaterThan(1);
  });

  it('redacts credentials from URLs', () => {
    expect(redactUrl('mqtt://user:secret@broker:1883')).toBe('mqtt://broker:1883');
    expect(redactUrl('wss://u:p@host/mqtt')).toBe('wss://host/mqtt');
  });

  it('maps the config to mqtt.js options, and reports an unreadable TLS file as a config error', () => {
    const config = mqttSourceConfig.parse({
      url: 'mqtt://b',
      topics: ['a'],
      keepalive: '30s',
      clientId: 'c1',
    });
    expect(clientOptions(config)).toMatchObject({
      clientId: 'c1',
      keepalive: 30,
      protocolVersion: 5,
      queueQoSZero: false,
      manualConnect: true,
      reconnectOnConnackError: true,
    });
    expect(clientOptions(mqttSourceConfig.parse({ url: 'mqtt://b', topics: ['a'] })).clientId).toMatch(
      /^passerelle_[0-9a-f]{12}$/,
    );
    const tls = mqttSourceConfig.parse({
      url: 'mqtts://b',
      topics: ['a'],
      tls: { ca: '/nonexistent/ca.pem' },
    });
    expect(() => clientOptions(tls)).toThrow(ConfigError);
    expect(() => clientOptions(tls)).toThrow(/tls.ca: cannot read \/nonexistent\/ca.pem/);
  });

  it("leaves mqtt-packet's table of 65,536 number Buffers unbuilt (6.3 MB of heap, issue 17)", () => {
    // mqtt-packet is mqtt.js's own dependency: reach the copy mqtt.js uses.
    const fromMqtt = createRequire(createRequire(import.meta.url).resolve('mqtt'));
    const packets = fromMqtt('mqtt-packet') as {
      writeToStream(packet: object, stream: { write(chunk: Buffer): boolean }): boolean;
    };
    const numbers = fromMqtt('mqtt-packet/numbers.js') as { cache: Record<number, Buffer> };
    const config = mqttSourceConfig.parse({ url: 'mqtt://127.0.0.1:1', topics: ['a'] });
    // manualConnect: the client applies its options and opens nothing (so there is nothing to end).
    mqtt.connect(config.url, clientOptions(config));
    const chunks: Buffer[] = [];
    const stream = { write: (chunk: Buffer) => chunks.push(Buffer.from(chunk)) > 0 };
    packets.writeToStream({ cmd: 'publish', topic: 'a/b', payload: 'x', qos: 1, messageId: 258 }, stream);
    // The topic length (3) and the packet id (258) are still written, big-endian.
    expect(Buffer.concat(chunks).subarray(2)).toEqual(Buffer.from([0, 3, 97, 47, 98, 1, 2, 120]));
    expect(Object.keys(numbers.cache)).toHaveLength(0);
  });
});
