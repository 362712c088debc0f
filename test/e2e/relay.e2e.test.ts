/**
 * The foundation's promises, end to end: a real `passerelle run` process between two real
 * Mosquitto brokers, with a real Redis (append-only file on).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startMosquitto, startRedis, type ServiceHandle } from '../harness/services.js';
import { collect, publishSequence } from './mqtt-tools.js';
import { metric, startService, tempDir, waitFor, waitReady, type ServiceProcess } from './service-process.js';

const N = 10_000;

function relayPipeline(name: string, sourceUrl: string, targetUrl: string): string {
  return `
name: ${name}
source:
  type: mqtt
  url: ${sourceUrl}
  topics: [plant/+/telemetry]
  qos: 1
  clientId: ${name}-source
  cleanSession: false
transforms:
  - type: filter
    expression: payload.seq != null
sinks:
  - type: mqtt
    url: ${targetUrl}
    topic: site-a/{{ topic[1] }}/telemetry
    qos: 1
`;
}

describe('MQTT relay with the Redis outbox', { timeout: 150_000 }, () => {
  let source: ServiceHandle;
  let target: ServiceHandle;
  let redis: ServiceHandle;
  let service: ServiceProcess | undefined;
  const tmp = tempDir('e2e');

  beforeAll(async () => {
    [source, target, redis] = await Promise.all([
      startMosquitto(),
      startMosquitto(),
      startRedis({ appendOnly: true }),
    ]);
  });
  afterEach(async () => {
    if (service && service.child.exitCode === null) {
      service.kill('SIGKILL');
      await service.exited;
    }
    service = undefined;
  });
  afterAll(async () => {
    await Promise.all([source, target, redis].map((h) => h?.dispose()));
    tmp.remove();
  });

  const env = { PASSERELLE_OUTBOX_LOCK_DURATION: '2s' };

  it('relays 10,000 QoS 1 messages completely', async () => {
    const file = tmp.write('relay.yaml', relayPipeline('relay-complete', source.url, target.url));
    const out = await collect(target.url, 'site-a/+/telemetry');
    service = await startService([file], { redisUrl: `${redis.url}/1`, env });
    await waitReady(service);
    await publishSequence(source.url, 'plant/line1/telemetry', 0, N);
    await waitFor(() => out.counts.size >= N, 60_000, `${N} messages downstream (have ${out.counts.size})`);
    expect(out.missing(0, N)).toEqual([]);
    await waitFor(
      async () => (await metric(service!, 'passerelle_messages_delivered_total')) >= N,
      10_000,
      'delivered counter',
    );
    expect(await metric(service, 'passerelle_messages_received_total')).toBe(N);
    service.kill('SIGTERM');
    expect(await service.exited).toBe(0);
    await out.close();
  });

  it('loses nothing when the service is killed with SIGKILL mid-stream', async () => {
    const file = tmp.write('kill.yaml', relayPipeline('relay-kill', source.url, target.url));
    const out = await collect(target.url, 'site-a/+/telemetry');
    service = await startService([file], { redisUrl: `${redis.url}/2`, env });
    await waitReady(service);
    const publishing = publishSequence(source.url, 'plant/line2/telemetry', 0, N, { ratePerSecond: 2500 });
    await waitFor(() => out.counts.size >= 2000, 30_000, 'the first 2,000 messages');
    service.kill('SIGKILL');
    await service.exited;
    await publishing; // the broker keeps what arrives meanwhile for the persistent session
    service = await startService([file], { redisUrl: `${redis.url}/2`, env });
    await waitReady(service);
    await waitFor(
      () => out.counts.size >= N,
      90_000,
      `all messages after the restart (have ${out.counts.size})`,
    ).catch(async (e) => {
      console.log(service!.output().slice(-5000));
      console.log(await (await fetch(`${service!.httpUrl}/status`)).text());
      throw e;
    });
    expect(out.missing(0, N)).toEqual([]);
    console.log(`kill -9 mid-stream: ${N} sequence numbers all delivered, ${out.duplicates()} duplicates`);
    await out.close();
  });

  it('keeps everything while the target broker is down for 20 s, then drains the backlog', async () => {
    const file = tmp.write('down.yaml', relayPipeline('relay-down', source.url, target.url));
    const out = await collect(target.url, 'site-a/+/telemetry');
    service = await startService([file], { redisUrl: `${redis.url}/3`, env });
    await waitReady(service);
    const publishing = publishSequence(source.url, 'plant/line3/telemetry', 0, N, { ratePerSecond: 400 });
    await waitFor(() => out.counts.size >= 1000, 30_000, 'the first 1,000 messages');
    await target.stop();
    const downAt = Date.now();
    await waitFor(
      async () => (await fetch(`${service!.httpUrl}/readyz`)).status === 503,
      10_000,
      'readiness to turn false',
    );
    await new Promise((r) => setTimeout(r, Math.max(0, 20_000 - (Date.now() - downAt))));
    await target.restart();
    await publishing;
    await waitFor(() => out.counts.size >= N, 90_000, `the backlog to drain (have ${out.counts.size})`).catch(
      async (e) => {
        console.log(service!.output().slice(-5000));
        console.log(await (await fetch(`${service!.httpUrl}/status`)).text());
        throw e;
      },
    );
    expect(out.missing(0, N)).toEqual([]);
    await waitReady(service);
    await out.close();
  });

  it('loses nothing when Redis restarts mid-stream (append-only file on)', async () => {
    const file = tmp.write('redis.yaml', relayPipeline('relay-redis', source.url, target.url));
    const out = await collect(target.url, 'site-a/+/telemetry');
    service = await startService([file], { redisUrl: `${redis.url}/4`, env });
    await waitReady(service);
    const publishing = publishSequence(source.url, 'plant/line4/telemetry', 0, N, { ratePerSecond: 1000 });
    await waitFor(() => out.counts.size >= 2000, 30_000, 'the first 2,000 messages');
    await redis.stop();
    await new Promise((r) => setTimeout(r, 3000));
    await redis.restart();
    await publishing;
    await waitFor(() => out.counts.size >= N, 90_000, 'all messages after the Redis restart').catch(
      async (e) => {
        console.log(
          `received ${out.counts.size} of ${N}; missing ${out.missing(0, N).slice(0, 20).join(', ')}`,
        );
        console.log(service!.output().slice(-8000));
        console.log(await (await fetch(`${service!.httpUrl}/status`)).text());
        throw e;
      },
    );
    expect(out.missing(0, N)).toEqual([]);
    await out.close();
  });
});
