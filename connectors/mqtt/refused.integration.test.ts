/**
 * A broker that refuses the CONNACK (here: MQTT 5 to a 3.1.1-only broker) must not leave a client
 * reconnecting behind: mqtt.js 5.16 schedules a reconnect even when end() follows the refusal.
 */
import { createServer } from 'node:net';
import { Aedes } from 'aedes';
import type { MqttClient } from 'mqtt';
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
    const connecting = sink.connect(new AbortController().signal);
    // The sink's client exists as soon as connect() is called; its socket's 'close' is where mqtt.js
    // decides whether to reconnect (its own listener runs first), so no quiet window is needed.
    const client = (sink as unknown as { conn: { client: MqttClient } }).conn.client;
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await expect(connecting).rejects.toThrow(/protocol version/i);
    await sink.close();
    await closed;
    expect(client.disconnected).toBe(true);
    expect(client.reconnecting).toBe(false);
    expect((client as unknown as { reconnectTimer: unknown }).reconnectTimer).toBeNull();
    expect(connections).toBe(1);
  });
});
