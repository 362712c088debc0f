import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll } from 'vitest';
import type { Message } from '../../src/sdk/index.js';
import { waitFor } from '../../test/conformance/context.js';
import { sourceConformance } from '../../test/conformance/source.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';
import { encodePayload } from '../sparkplug/payload.js';
import { sparkplugCommandsSource } from './index.js';
import { sparkplugCommandsConfig } from './spec.js';

/**
 * The source conformance suite on the sparkplug-commands source: each identity is a Sparkplug group
 * whose edge node `e1` gets NCMDs from a raw MQTT client acting as the host. Clean session (no
 * redelivery); MQTT messages can not be held back here, so past maxQueuedCommands commands are
 * dropped and counted (`drops`).
 */
let broker: ServiceHandle;
let host: MqttClient;
/** NCMDs seen per group, the source's own rebirth request included: it follows its SUBACK. */
const seen = new Map<string, number>();

beforeAll(async () => {
  broker = await startMosquitto();
  host = await mqtt.connectAsync(broker.url, { clientId: `sp-commands-host-${process.pid}` });
  host.on('message', (topic) => {
    const group = topic.split('/')[1]!;
    seen.set(group, (seen.get(group) ?? 0) + 1);
  });
  await host.subscribeAsync('spBv1.0/+/NCMD/e1', { qos: 1 });
});

afterAll(async () => {
  await host?.endAsync();
  await broker?.dispose();
});

sourceConformance(
  'sparkplug-commands (clean session)',
  () => ({
    create: (ctx, identity) => {
      const source = sparkplugCommandsSource.create(
        sparkplugCommandsConfig.parse({
          url: broker.url,
          reconnectDelay: '100ms',
          groupId: identity,
          edgeNodeId: 'e1',
          writable: [{ metric: 'v' }],
          maxQueuedCommands: 10,
          batchSize: 4,
        }),
        ctx,
      );
      return {
        // Connected means subscribed: the rebirth request it sends after its SUBACK is the sign.
        connect: async (signal) => {
          const before = seen.get(identity) ?? 0;
          await source.connect(signal);
          await waitFor(() => (seen.get(identity) ?? 0) > before, 'the rebirth request after the SUBACK');
        },
        read: (signal) => source.read(signal),
        close: () => source.close(),
      };
    },
    produce: async (identity, values) => {
      for (const value of values) {
        const payload = encodePayload({
          timestamp: Date.now(),
          metrics: [{ name: 'v', datatype: 'String', value }],
        });
        await host.publishAsync(`spBv1.0/${identity}/NCMD/e1`, Buffer.from(payload), { qos: 1 });
      }
    },
    valueOf: (m: Message) => String((m.payload as { value: unknown }).value),
    maxUnacked: 10,
  }),
  { redelivers: false, overflow: 'drops' },
);
