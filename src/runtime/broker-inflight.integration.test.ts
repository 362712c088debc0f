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
 * than the broker's limit never filled and waited its whole maxWait at every stop of the broker.
 */

let broker: ServiceHandle;
beforeAll(async () => {
  broker = await startMosquitto({ brokerDefaults: true });
});
afterAll(async () => {
  await broker?.dispose();
});

describe("MQTT 3.1.1 source on a broker with Mosquitto's defaults", { timeout: 60_000 }, () => {
  it('stores the open batches when the broker stops at its in-flight limit, once it has seen that limit', async () => {
    const n = 300;
    const MAX_WAIT_S = 3;
    const yaml = [
      'name: old-broker',
      'source:',
      `  { type: mqtt, url: ${broker.url}, topics: [old/in], qos: 1, protocolVersion: 4, cleanSession: false, clientId: old-relay-${process.pid} }`,
      'sinks:',
      `  - { type: mqtt, url: ${broker.url}, topic: old/out, qos: 1, batch: { count: 5000, maxWait: ${MAX_WAIT_S}s } }`,
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
      const started = Date.now();
      for (let seq = 0; seq < n; seq++)
        await publisher.publishAsync('old/in', JSON.stringify({ seq }), { qos: 1 });
      await publisher.endAsync();
      await waitFor(() => seen.size === n, `all ${n} messages downstream (have ${seen.size})`, 60_000);
      // Mosquitto stops twice here (at 20 held, then at the rest, which it sends at once after the
      // first acknowledgements). The first stall waits for maxWait: it shows the broker's limit. The
      // second is stored at once. Before, each waited for maxWait, twice 3 s; the margin is 3 s.
      expect(Date.now() - started).toBeLessThan(2 * MAX_WAIT_S * 1000);
    } finally {
      await service.stop();
      await collector.endAsync();
    }
  });
});
