import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../test/conformance/context.js';
import { startMosquitto, type ServiceHandle } from '../../test/harness/services.js';
import { loadPipelinesOrThrow } from '../config/index.js';
import { createMemoryBackend } from '../outbox/index.js';
import { builtinRegistry } from '../registry/index.js';
import { silentLogger, type Logger } from '../sdk/index.js';
import { toPlan } from './plan.js';
import { ConfigReloader } from './reload.js';
import { createLogger } from './logger.js';
import { Service } from './service.js';

/*
 * Reload against real pipelines (MQTT -> MQTT on a real Mosquitto): file watch on a folder, the
 * Kubernetes ConfigMap symlink swap, SIGHUP, and a refused invalid configuration.
 */

let broker: ServiceHandle;
let client: MqttClient;
const received: { topic: string; payload: string }[] = [];
const cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  broker = await startMosquitto();
  client = await mqtt.connectAsync(broker.url, { clientId: `reload-test-${process.pid}` });
  client.on('message', (topic, payload) => received.push({ topic, payload: payload.toString() }));
  await client.subscribeAsync('out/#', { qos: 1 });
});
afterAll(async () => {
  await client?.endAsync();
  await broker?.dispose();
});
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function relay(name: string, outTopic: string): string {
  return [
    `name: ${name}`,
    'source:',
    '  type: mqtt',
    `  url: ${broker.url}`,
    `  topics: [in/${name}]`,
    'sinks:',
    '  - type: mqtt',
    `    url: ${broker.url}`,
    `    topic: ${outTopic}`,
    '',
  ].join('\n');
}

async function start(
  paths: string[],
  options: { watch?: boolean; logger?: Logger } = {},
): Promise<{ service: Service; reloader: ConfigReloader }> {
  const load = async () =>
    Promise.all((await loadPipelinesOrThrow(paths, builtinRegistry)).map((p) => toPlan(p, builtinRegistry)));
  const backend = createMemoryBackend({ maxAgeMs: 60_000, maxCount: 100 }, { logger: silentLogger });
  const service = new Service({
    plans: await load(),
    backend,
    logger: process.env.TEST_LOG ? createLogger({ level: 'debug' }) : silentLogger,
  });
  await service.start();
  const reloader = new ConfigReloader({
    paths,
    load,
    apply: (plans) => service.applyPlans(plans),
    logger: options.logger ?? silentLogger,
    registry: service.metrics.registry,
    debounceMs: 100,
    watch: options.watch ?? true,
  });
  reloader.start();
  cleanups.push(async () => {
    await reloader.stop();
    await service.stop();
  });
  return { service, reloader };
}

/** Publishes on in/<name> until the message shows up on `outTopic` (the pipeline may still be connecting). */
async function relays(name: string, outTopic: string): Promise<void> {
  const marker = `${name}-${Math.random().toString(16).slice(2)}`;
  await waitFor(
    async () => {
      await client.publishAsync(`in/${name}`, JSON.stringify({ marker }), { qos: 1 });
      return received.some((r) => r.payload.includes(marker) && r.topic === outTopic);
    },
    `${name} relaying to ${outTopic}`,
    15_000,
    300,
  );
}

async function reloads(service: Service, result: string): Promise<number> {
  const metric = service.metrics.registry.getSingleMetric('passerelle_config_reloads_total');
  const { values } = await metric!.get();
  return values.find((v) => v.labels.result === result)?.value ?? 0;
}

const byName = (service: Service, name: string) => service.pipelines.find((p) => p.name === name);

function tempFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-reload-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('configuration reload', () => {
  it('on a folder change: keeps unchanged pipelines, restarts changed ones, starts new ones, stops removed ones', async () => {
    const dir = tempFolder();
    writeFileSync(join(dir, 'a.yaml'), relay('a', 'out/a'));
    writeFileSync(join(dir, 'b.yaml'), relay('b', 'out/b1'));
    const { service } = await start([dir]);
    await relays('a', 'out/a');
    await relays('b', 'out/b1');
    const a = byName(service, 'a');
    const b = byName(service, 'b');

    writeFileSync(join(dir, 'b.yaml'), relay('b', 'out/b2'));
    writeFileSync(join(dir, 'c.yaml'), relay('c', 'out/c'));
    await waitFor(() => byName(service, 'c'), 'c started', 10_000);
    expect(byName(service, 'a')).toBe(a); // the same running instance
    expect(byName(service, 'b')).not.toBe(b);
    await relays('b', 'out/b2');
    await relays('c', 'out/c');
    await relays('a', 'out/a');

    const c = byName(service, 'c')!;
    rmSync(join(dir, 'c.yaml'));
    await waitFor(() => !byName(service, 'c'), 'c removed', 10_000);
    expect((await c.status()).state).toBe('stopped');
    expect(service.pipelines.map((p) => p.name)).toEqual(['a', 'b']);
    expect(await reloads(service, 'applied')).toBeGreaterThanOrEqual(2);
    expect(await reloads(service, 'refused')).toBe(0);
  });

  it('refuses an invalid configuration, keeps the old one running, and applies the next valid one', async () => {
    const dir = tempFolder();
    writeFileSync(join(dir, 'a.yaml'), relay('a', 'out/a'));
    const logged: { level: string; msg: string }[] = [];
    const record =
      (level: string) =>
      (obj: object | string, msg?: string): void =>
        void logged.push({ level, msg: typeof obj === 'string' ? obj : (msg ?? '') });
    const logger: Logger = {
      debug: record('debug'),
      info: record('info'),
      warn: record('warn'),
      error: record('error'),
      child: () => logger,
    };
    const { service, reloader } = await start([dir], { watch: false, logger });
    await relays('a', 'out/a');
    const a = byName(service, 'a');

    // An unknown key (typo) in a changed file: all or nothing, nothing is applied.
    writeFileSync(join(dir, 'a.yaml'), relay('a', 'out/a2').replace('topic:', 'topik:'));
    writeFileSync(join(dir, 'd.yaml'), relay('d', 'out/d'));
    const refused = await reloader.reload('test');
    expect(refused.result).toBe('refused');
    expect(refused.result === 'refused' && refused.error).toMatch(/a\.yaml:\d+:\d+: sinks\[0\]/);
    expect(service.pipelines).toEqual([a]);
    expect(await reloads(service, 'refused')).toBe(1);
    const ok = service.metrics.registry.getSingleMetric('passerelle_config_last_reload_ok');
    expect((await ok!.get()).values[0]?.value).toBe(0);
    await relays('a', 'out/a');

    writeFileSync(join(dir, 'a.yaml'), 'name: a\nsource: [this is not a mapping\n');
    expect((await reloader.reload('test')).result).toBe('refused');
    expect(byName(service, 'a')).toBe(a);

    expect(logged.filter((l) => l.level === 'error')).toHaveLength(2);
    expect(logged[0]!.msg).toMatch(/^configuration reload refused/);
    expect(logged.some((l) => l.msg === 'configuration valid again')).toBe(false);

    writeFileSync(join(dir, 'a.yaml'), relay('a', 'out/a2'));
    const applied = await reloader.reload('test');
    expect(logged.filter((l) => l.msg === 'configuration valid again')).toEqual([
      { level: 'info', msg: 'configuration valid again' },
    ]);
    expect(applied).toMatchObject({ result: 'applied', summary: { changed: ['a'], added: ['d'] } });
    expect((await ok!.get()).values[0]?.value).toBe(1);
    await relays('a', 'out/a2');
    await relays('d', 'out/d');
    expect((await reloader.reload('test')).result).toBe('unchanged');
  });

  it('follows a Kubernetes ConfigMap update (the ..data symlink swapped)', async () => {
    const dir = tempFolder();
    // The layout kubelet writes: versioned folder, ..data -> it, and each key -> ..data/key.
    mkdirSync(join(dir, '..v1'));
    writeFileSync(join(dir, '..v1', 'a.yaml'), relay('a', 'out/k1'));
    symlinkSync('..v1', join(dir, '..data'));
    symlinkSync('..data/a.yaml', join(dir, 'a.yaml'));
    const { service } = await start([dir]);
    await relays('a', 'out/k1');

    mkdirSync(join(dir, '..v2'));
    writeFileSync(join(dir, '..v2', 'a.yaml'), relay('a', 'out/k2'));
    symlinkSync('..v2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
    rmSync(join(dir, '..v1'), { recursive: true });
    await relays('a', 'out/k2');
    expect(await reloads(service, 'applied')).toBe(1);
  });

  it('reloads on SIGHUP when the files are not watched', async () => {
    const dir = tempFolder();
    writeFileSync(join(dir, 'a.yaml'), relay('a', 'out/h1'));
    const { service } = await start([join(dir, 'a.yaml')], { watch: false });
    await relays('a', 'out/h1');
    writeFileSync(join(dir, 'a.yaml'), relay('a', 'out/h2'));
    process.kill(process.pid, 'SIGHUP');
    await relays('a', 'out/h2');
    expect(await reloads(service, 'applied')).toBe(1);
  });

  it('readiness goes false as soon as a stop begins, before the drain finishes', async () => {
    const dir = tempFolder();
    writeFileSync(join(dir, 'a.yaml'), relay('a', 'out/s'));
    const { service } = await start([dir], { watch: false });
    await relays('a', 'out/s');
    await waitFor(() => service.pipelines.every((p) => p.ready()), 'ready');
    const stopping = service.stop();
    expect(service.pipelines.some((p) => p.ready())).toBe(false);
    await stopping;
  });
});
