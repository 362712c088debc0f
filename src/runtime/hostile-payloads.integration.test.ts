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
 * A message that is legal JSON but hostile to rendering (nested thousands of levels deep) must not
 * break the status page, its API or /status, before or after newer messages arrive.
 */

let broker: ServiceHandle;
let service: Service;

beforeAll(async () => {
  broker = await startMosquitto();
  const text = `name: hostile
source:
  type: mqtt
  url: ${broker.url}
  topics: [in/#]
sinks:
  - type: mqtt
    url: ${broker.url}
    topic: out/x
`;
  const { pipelines, issues } = loadPipelineTexts([{ file: 'hostile.yaml', text }], builtinRegistry, {
    env: {},
  });
  expect(issues).toEqual([]);
  service = new Service({
    plans: await Promise.all(pipelines.map((p) => toPlan(p, builtinRegistry))),
    backend: createMemoryBackend({ maxAgeMs: 60_000, maxCount: 100 }, { logger: silentLogger }),
    logger: silentLogger,
    http: { host: '127.0.0.1', port: 0 },
    version: 'test',
  });
  await service.start();
  await waitFor(() => service.pipelines[0]!.ready(), 'the pipeline to be ready');
});
afterAll(async () => {
  await service?.stop();
  await broker?.dispose();
});

describe('a message nested 5,000 levels deep', () => {
  it('leaves /status, /api/overview and the dead letters readable', async () => {
    const pub = await mqtt.connectAsync(broker.url);
    await pub.publishAsync('in/deep', '{"a":'.repeat(5000) + '1' + '}'.repeat(5000), { qos: 1 });
    await pub.publishAsync('in/ok', JSON.stringify({ ok: true }), { qos: 1 });
    await pub.endAsync();
    await waitFor(async () => {
      const status = (await (await fetch(`${service.url}/status`)).json()) as {
        pipelines: { recent: { payload: unknown }[] }[];
      };
      return status.pipelines[0]!.recent.length >= 2;
    }, 'a recent message');
    for (const path of ['/status', '/api/overview', '/api/dead-letters']) {
      const answer = await fetch(`${service.url}${path}`);
      expect(answer.status, path).toBe(200);
      expect(await answer.text()).not.toMatch(/internal error/);
    }
    const status = (await (await fetch(`${service.url}/status`)).json()) as {
      pipelines: { recent: { payload: unknown }[] }[];
    };
    const shown = JSON.stringify(status.pipelines[0]!.recent.map((m) => m.payload));
    expect(shown).toContain('nested deeper than 16 levels');
    expect(shown).toContain('{"ok":true}');
  });
});
