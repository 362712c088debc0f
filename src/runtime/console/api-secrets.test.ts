import { Registry } from 'prom-client';
import { afterEach, expect, it } from 'vitest';
import { createOutboxBackend } from '../../outbox/index.js';
import { clearSecretsForTests, createMessage, registerSecret } from '../../sdk/index.js';
import { startHttpServer } from '../http.js';

// JSON writes this password as pa\"ss\\word1: masking the serialised body would miss it.
const QUOTED = 'pa"ss\\word1';
afterEach(() => clearSecretsForTests());

it('masks secrets in API bodies before serialising, in reasons and in message previews', async () => {
  registerSecret(QUOTED);
  const backend = await createOutboxBackend({ retention: { maxAgeMs: 60_000, maxCount: 100 } });
  await backend.deadLetters.add([
    {
      pipeline: 'p',
      stage: 'sink',
      reason: `auth failed with ${QUOTED} at redis://:hunter2@cache`,
      message: createMessage({ id: 'm1', payload: { echo: QUOTED }, meta: {}, time: Date.now() }),
      time: Date.now(),
      attempts: 1,
    },
  ]);
  const http = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    pipelines: () => [],
    metrics: new Registry(),
    info: () => ({ version: 'test' }),
    deadLetters: backend.deadLetters,
  });
  try {
    const body = await (await fetch(`${http.url}/api/dead-letters`)).text();
    expect(body).toContain('auth failed with *** at redis://:***@cache');
    expect(body).not.toContain('word1');
    expect(body).not.toContain('hunter2');
  } finally {
    await http.close();
    await backend.close();
  }
});
