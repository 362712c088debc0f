/**
 * A broker that refuses the CONNACK (here: MQTT 5 to a 3.1.1-only broker) must not leave a client
 * reconnecting behind: mqtt.js 5.16 schedules a reconnect even when end() follows the refusal.
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeContext } from '../../test/conformance/context.js';
import { MqttSink } from './sink.js';
import { mqttSinkConfig } from './spec.js';

describe('mqtt connection refused by the broker', () => {
  let connections = 0;
  let url = '';
  let close: () => Promise<void> = async () => {};

  beforeAll(async () => {
    const broker = await Aedes.createBroker();
    const server = createServer(broker.handle);
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const address = server.address();
    url = `mqtt://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    close = () => new Promise((resolve) => server.close(() => broker.close(() => resolve())));
  });
  afterAll(() => close());

  it('rejects connect(), and close() leaves no client trying again', async () => {
    const config = mqttSinkConfig.parse({ url, topic: 't', protocolVersion: 5, reconnectDelay: '50ms' });
    const sink = new MqttSink(config, createFakeContext());
    await expect(sink.connect(new AbortController().signal)).rejects.toThrow(/protocol version/i);
    await sink.close();
    const after = connections;
    await new Promise((r) => setTimeout(r, 1000));
    expect(connections).toBe(after);
  });
});
