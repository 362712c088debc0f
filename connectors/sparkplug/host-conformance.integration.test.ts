import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll } from 'vitest';
import type { Message } from '../../src/sdk/index.js';
import { sourceConformance } from '../../test/conformance/source.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';
import { sparkplugSourceConfig } from './host-spec.js';
import { sparkplugSource } from './index.js';
import { encodePayload } from './payload.js';

/**
 * The source conformance suite on the Sparkplug host source: each identity is a Sparkplug group with
 * one edge node, published by a raw MQTT client (birth, then data with consecutive seq). The source
 * uses a clean session (best-effort: no redelivery); a full inbox holds the MQTT callback, so the
 * broker keeps the rest (`waits`).
 */
let broker: ServiceHandle;
let edge: MqttClient;
let n = 0;

beforeAll(async () => {
  broker = await startMosquitto();
  edge = await mqtt.connectAsync(broker.url, { clientId: `sp-conformance-edge-${process.pid}-${++n}` });
});

afterAll(async () => {
  await edge?.endAsync();
  await broker?.dispose();
});

/** The birth's own value of the metric: reported by the source, not produced by the suite. */
const BIRTH = 'birth';
/** Next seq per identity (group); absent until the edge node's birth is published. */
const seqOf = new Map<string, number>();

async function publish(group: string, type: 'NBIRTH' | 'NDATA', seq: number, value: string): Promise<void> {
  const payload = encodePayload(
    {
      timestamp: Date.now(),
      seq,
      metrics: [
        ...(type === 'NBIRTH' ? [{ name: 'bdSeq', datatype: 'Int64' as const, value: 0 }] : []),
        { name: 'v', alias: 1, datatype: 'String' as const, value },
      ],
    },
    { omitDatatype: type === 'NDATA' },
  );
  await edge.publishAsync(`spBv1.0/${group}/${type}/E`, Buffer.from(payload), { qos: 1 });
}

sourceConformance(
  'sparkplug host (clean session, QoS 1)',
  () => ({
    create: (ctx, identity) =>
      sparkplugSource.create(
        sparkplugSourceConfig.parse({
          url: broker.url,
          reconnectDelay: '100ms',
          groups: [identity],
          maxQueuedMetrics: 10,
          batchSize: 4,
        }),
        ctx,
      ),
    produce: async (identity, values) => {
      // A source that connects forgets what it knew of edge nodes: the birth comes after its
      // subscription, once per identity (each test reads from one connection after producing).
      if (!seqOf.has(identity)) {
        await publish(identity, 'NBIRTH', 0, BIRTH);
        seqOf.set(identity, 1);
      }
      for (const value of values) {
        const seq = seqOf.get(identity)!;
        seqOf.set(identity, (seq + 1) % 256);
        await publish(identity, 'NDATA', seq, value);
      }
    },
    valueOf: (m: Message) => String((m.payload as { value: unknown }).value),
    notProduced: (m: Message) => (m.payload as { value: unknown }).value === BIRTH,
    maxUnacked: 10,
  }),
  { redelivers: false },
);
