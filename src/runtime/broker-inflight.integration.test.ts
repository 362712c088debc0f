import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/conformance/context.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';
import { loadPipelineTexts } from '../config/index.js';
import { createMemoryBackend } from '../outbox/index.js';
import { builtinRegistry } from '../registry/index.js';
import { silentLogger } from '../sdk/index.js';
import { toPlan } from './plan.js';
import { Service } from './service.js';

/*
 * MQTT 3.1.1 has no flow control: the broker stops sending at its own in-flight limit (Mosquitto's
 * max_inflight_messages, 20 by default; RabbitMQ's `mqtt.prefetch`), which a 3.1.1 client is never
 * told. The source holds those acknowledgements until the messages are stored, so a sink batch larger
 * than the broker's limit never filled and waited its whole maxWait (an hour here) every 20 messages.
 */

let broker: ServiceHandle;
beforeAll(async () => {
  broker = await startMosquitto({ brokerDefaults: true });
});
afterAll(async () => {
  await broker?.dispose();
});

describe("MQTT 3.1.1 source on a broker with Mosquitto's defaults", { timeout: 60_000 }, () => {
  it('stores the open batches when the broker stops at its in-flight limit, instead of after maxWait', async () => {
    const n = 300;
    const yaml = [
      'name: old-broker',
      'source:',
      `  { type: mqtt, url: ${broker.url}, topics: [old/in], qos: 1, protocolVersion: 4, cleanSession: false, clientId: old-relay-${process.pid} }`,
      'sinks:',
      `  - { type: mqtt, url: ${broker.url}, topic: old/out, qos: 1, batch: { count: 5000, maxWait: 1h } }`,
      '',
    ].join('\n');
    const loaded = loadPipelineTexts([{ file: 'pipeline.yaml', text: yaml }], builtinRegistry);
    expect(loaded.issues).toEqual([]);
    const plans = await Promise.all(loaded.pipelines.map((p) => toPlan(p, builtinRegistry)));
    const backend = createMemoryBackend({ maxAgeMs: 60_000, maxCount: 100 }, { logger: silentLogger });
    const service = new Service({ plans, backend, logger: silentLogger });

    const seen = new Set<number>();
    const collector = await mqtt.connectAsync(broker.url, { clientId: `old-collector-${process.pid}` });
    collector.on('message', (_t, payload) =>
      seen.add((JSON.parse(payload.toString()) as { seq: number }).seq),
    );
    await collector.subscribeAsync('old/out', { qos: 1 });
    await service.start();
    try {
      await waitFor(() => service.pipelines[0]?.ready(), 'pipeline ready', 20_000);
      const publisher = await mqtt.connectAsync(broker.url, { clientId: `old-pub-${process.pid}` });
      for (let seq = 0; seq < n; seq++)
        await publisher.publishAsync('old/in', JSON.stringify({ seq }), { qos: 1 });
      await publisher.endAsync();
      // Before: none (the first 20 waited for an hour, and the broker sent nothing more).
      await waitFor(() => seen.size === n, `all ${n} messages downstream (have ${seen.size})`, 30_000);
    } finally {
      await service.stop();
      await collector.endAsync();
    }
  });
});
