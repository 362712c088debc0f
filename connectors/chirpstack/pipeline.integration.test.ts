import mqtt, { type MqttClient } from 'mqtt';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatIssue, loadPipelineTexts } from '../../src/config/index.js';
import { EngineMetrics } from '../../src/engine/metrics.js';
import { Pipeline } from '../../src/engine/pipeline.js';
import { createMemoryBackend } from '../../src/outbox/index.js';
import { builtinRegistry } from '../../src/registry/index.js';
import { toPlan } from '../../src/runtime/plan.js';
import { silentLogger } from '../../src/sdk/index.js';
import { waitFor } from '../../test/conformance/context.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';
import * as fx from './fixtures.js';

/*
 * The source inside a real pipeline: ChirpStack events -> chirpstack source -> engine with the
 * memory outbox -> mqtt sink on the same broker, and a chirpstack-downlink sink answering each
 * uplink. Checks the records, the dead letters and that the engine's counters reconcile.
 */

let broker: ServiceHandle;
let client: MqttClient;
const seen: { topic: string; body: Record<string, unknown> }[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
  client = await mqtt.connectAsync(broker.url, { protocolVersion: 5 });
  client.on('message', (topic, payload) => seen.push({ topic, body: JSON.parse(payload.toString()) }));
  await client.subscribeAsync(['records/#', 'application/+/device/+/command/down'], { qos: 1 });
});

afterAll(async () => {
  await client?.endAsync();
  await broker?.dispose();
});

describe('chirpstack in a pipeline', () => {
  it('relays records once, dead-letters bad events with the reason, answers with downlinks; counters reconcile', async () => {
    const result = loadPipelineTexts(
      [
        {
          file: 'lorawan.yaml',
          text: `
name: lorawan
source:
  type: chirpstack
  url: ${broker.url}
  clientId: chirpstack-pipeline-test
  decoder: cayenne-lpp
  onDecodeError: dead-letter
sinks:
  - type: mqtt
    url: ${broker.url}
    topic: records/{{ meta.chirpstack.devEui }}
    batch: { count: 100, maxWait: 20ms }
  - type: chirpstack-downlink
    url: ${broker.url}
    fPort: 10
    encoder: cayenne-lpp
    from: payload.object
    batch: { count: 100, maxWait: 20ms }
`,
        },
      ],
      builtinRegistry,
      { env: {} },
    );
    expect(result.issues.map(formatIssue)).toEqual([]);
    const backend = createMemoryBackend({ maxAgeMs: 3_600_000, maxCount: 1000 });
    const registry = new Registry();
    const pipeline = new Pipeline(await toPlan(result.pipelines[0]!, builtinRegistry), {
      backend,
      metrics: new EngineMetrics(registry),
      logger: silentLogger,
    });
    pipeline.start();
    try {
      await waitFor(() => pipeline.ready(), 'the pipeline to be ready', 20_000);
      const topic = `application/${fx.APP_V4}/device/0101010101010101/event/up`;
      const up = (dedup: string, fCnt: number, data?: string) =>
        client.publishAsync(
          topic,
          JSON.stringify(fx.v4Up({ deduplicationId: dedup, fCnt, object: null, data })),
          {
            qos: 1,
          },
        );
      await up('p-1', 1);
      await up('p-1', 1); // the same event again (a second integration)
      await up('p-bad', 2, Buffer.from('01fe00', 'hex').toString('base64'));
      await client.publishAsync(topic, '{"deduplicationId": ', { qos: 1 });
      await up('p-2', 3);

      await waitFor(() => seen.filter((s) => s.topic.startsWith('records/')).length >= 2, 'two records');
      await waitFor(() => seen.filter((s) => s.topic.endsWith('/command/down')).length >= 2, 'two downlinks');
      await waitFor(async () => (await backend.deadLetters.count()) === 2, 'two dead letters');
      const records = seen.filter((s) => s.topic.startsWith('records/'));
      expect(records.map((r) => [r.topic, r.body.deduplicationId, r.body.fCnt, r.body.fCntGap])).toEqual([
        ['records/0101010101010101', 'p-1', 1, 0],
        // fCnt 2 arrived (its frame was undecodable): no uplink is missing.
        ['records/0101010101010101', 'p-2', 3, 0],
      ]);
      expect(records[0]?.body.object).toEqual(fx.LPP_OBJECT);
      // The downlink re-encodes the decoded object: the same Cayenne LPP frame goes back.
      const downlinks = seen.filter((s) => s.topic.endsWith('/command/down'));
      expect(downlinks[0]).toEqual({
        topic: `application/${fx.APP_V4}/device/0101010101010101/command/down`,
        body: {
          // The command id is derived from the uplink's message id: a redelivered uplink gets the same.
          id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
          devEui: '0101010101010101',
          confirmed: false,
          fPort: 10,
          data: fx.LPP_FRAME_BASE64,
        },
      });
      const dead = await backend.deadLetters.list();
      expect(dead.map((d) => d.reason).sort()).toEqual([
        expect.stringMatching(/^chirpstack: fPort 1: Cayenne LPP: unknown type 254/),
        expect.stringMatching(/^chirpstack: invalid JSON/),
      ]);
      // received = delivered + dead-lettered: the duplicate never counts as received.
      const metrics = await registry.metrics();
      const value = (name: string) =>
        [...metrics.matchAll(new RegExp(`^${name}\\{[^}]*\\} (\\S+)`, 'gm'))].reduce(
          (n, m) => n + Number(m[1]),
          0,
        );
      expect(value('passerelle_messages_received_total')).toBe(4);
      expect(value('passerelle_messages_dead_lettered_total')).toBe(2);
      expect(metrics).toMatch(/passerelle_chirpstack_duplicates_total\{[^}]*\} 1/);
    } finally {
      await pipeline.stop();
      await backend.close();
    }
  }, 60_000);
});
