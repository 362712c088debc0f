import { createServer, type Socket } from 'node:net';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { formatIssue, loadPipelineTexts } from '../../src/config/index.js';
import { EngineMetrics } from '../../src/engine/metrics.js';
import { Pipeline } from '../../src/engine/pipeline.js';
import { createMemoryBackend } from '../../src/outbox/index.js';
import { builtinRegistry } from '../../src/registry/index.js';
import { toPlan } from '../../src/runtime/plan.js';
import type { Logger } from '../../src/sdk/index.js';
import { clientPki } from '../../test/e2e/opcua-support.js';

/**
 * The first connection, retried while the server is not there yet, keeps to reconnectMaxDelay
 * like every later reconnection: run by the real engine, against a port that accepts TCP
 * connections and drops them at once (a server still starting, a proxy without its backend).
 */
const cleanup: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanup.reverse()) await c();
});

describe('opcua source: first connection', () => {
  it('honours reconnectMaxDelay while the server refuses every attempt', async () => {
    const attempts: number[] = [];
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      attempts.push(Date.now());
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanup.push(() => new Promise((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    const result = loadPipelineTexts(
      [
        {
          file: 'first.yaml',
          text: `
name: opcua-first-connect
source:
  type: opcua
  url: opc.tcp://127.0.0.1:${port}/UA/Test
  pkiFolder: ${clientPki('first-connect')}
  reconnectDelay: 200ms
  reconnectMaxDelay: 1s
  nodes: ['ns=1;s=Temperature']
sinks:
  - type: log
`,
        },
      ],
      builtinRegistry,
      { env: {} },
    );
    expect(result.issues.map(formatIssue)).toEqual([]);
    // Every retry logs the delay it is about to wait (the engine's and the source's own loop alike):
    // the test reads those instead of timing the gaps between attempts.
    const delays: number[] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn(obj) {
        const delayMs = (obj as { delayMs?: unknown }).delayMs;
        if (typeof delayMs === 'number') delays.push(delayMs);
      },
      error() {},
      child: () => logger,
    };
    const backend = createMemoryBackend({ maxAgeMs: 3_600_000, maxCount: 1000 });
    const pipeline = new Pipeline(await toPlan(result.pipelines[0]!, builtinRegistry), {
      backend,
      metrics: new EngineMetrics(new Registry()),
      logger,
    });
    pipeline.start();
    cleanup.push(async () => {
      await pipeline.stop();
      await backend.close();
    });
    // Counted, not timed: eight attempts, and no retry waited longer than reconnectMaxDelay (the
    // engine's own backoff, 0.5 s doubling to 30 s, would wait 2 s at its third retry).
    for (;;) {
      expect(Math.max(0, ...delays)).toBeLessThanOrEqual(1_000);
      if (attempts.length >= 8) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(delays.length).toBeGreaterThanOrEqual(7);
  });
});
