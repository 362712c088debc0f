import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createOutboxBackend } from '../../outbox/index.js';
import { createMessage } from '../../sdk/index.js';
import { startHttpServer } from '../http.js';

const TOKEN = 'api-test-token-0123456789';
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

async function start(host: string, adminToken?: string) {
  const backend = await createOutboxBackend({ retention: { maxAgeMs: 60_000, maxCount: 100 } });
  await backend.deadLetters.add([
    {
      pipeline: 'p',
      stage: 'transforms[0]',
      reason: 'bad reading',
      message: createMessage({ id: 'm1', payload: { v: 1 }, meta: {}, time: Date.now() }),
      time: Date.now(),
      attempts: 1,
    },
  ]);
  const http = await startHttpServer({
    host,
    port: 0,
    pipelines: () => [],
    metrics: new Registry(),
    info: () => ({ version: 'test' }),
    deadLetters: backend.deadLetters,
    ...(adminToken ? { adminToken } : {}),
  });
  closers.push(async () => {
    await http.close();
    await backend.close();
  });
  // Reach it through loopback even when bound to all interfaces.
  const base = http.url.replace('0.0.0.0', '127.0.0.1');
  return {
    get: (path: string, token?: string) =>
      fetch(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} }),
    post: (path: string, body: unknown, token?: string) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
      }),
  };
}

describe('console API access', () => {
  it('on loopback: reads are open, actions need the token, and are disabled without one', async () => {
    const open = await start('127.0.0.1');
    expect((await open.get('/api/overview')).status).toBe(200);
    const list = (await (await open.get('/api/dead-letters')).json()) as {
      total: number;
      items: { id: string }[];
    };
    expect(list.total).toBe(1);
    const refused = await open.post('/api/dead-letters/purge', { ids: [list.items[0]!.id] });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: string }).error).toContain('actions are disabled');

    const guarded = await start('127.0.0.1', TOKEN);
    const items = ((await (await guarded.get('/api/dead-letters')).json()) as { items: { id: string }[] })
      .items;
    expect((await guarded.post('/api/dead-letters/purge', { ids: [items[0]!.id] })).status).toBe(401);
    expect(
      (await guarded.post('/api/dead-letters/purge', { ids: [items[0]!.id] }, 'wrong-token')).status,
    ).toBe(401);
    expect((await guarded.post('/api/dead-letters/purge', { nope: 1 }, TOKEN)).status).toBe(400);
    const purged = await guarded.post('/api/dead-letters/purge', { ids: [items[0]!.id] }, TOKEN);
    expect(await purged.json()).toEqual({ purged: 1 });
    expect((await guarded.get(`/api/dead-letters/${items[0]!.id}`)).status).toBe(404);
  });

  it('bound to the network: the console, its API and /status need the token; probes and metrics do not', async () => {
    const net = await start('0.0.0.0', TOKEN);
    expect((await net.get('/api/overview')).status).toBe(401);
    expect((await net.get('/api/dead-letters')).status).toBe(401);
    expect((await net.get('/status')).status).toBe(401);
    expect((await net.get('/api/overview', TOKEN)).status).toBe(200);
    expect((await net.get('/status', TOKEN)).status).toBe(200);
    expect((await net.get('/healthz')).status).toBe(200);
    expect((await net.get('/metrics')).status).toBe(200);
    // The page itself holds no data: it loads, then asks for the token.
    expect((await net.get('/')).status).toBe(200);

    const closed = await start('0.0.0.0');
    const answer = await closed.get('/api/overview');
    expect(answer.status).toBe(401);
    expect(((await answer.json()) as { error: string }).error).toContain('no admin token');
  });
});
