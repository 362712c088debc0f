// Private Mosquitto and Redis on free loopback ports, each with its own temporary folder.
// A plain-JS port of test/harness/services.ts (the bench runs with plain `node`, before or
// without the test build), with the same broker settings: large per-client queues and in-flight
// windows, so that the broker never silently drops QoS 1 messages for a slow subscriber.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { track } from './procs.js';

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(address.port));
    });
  });
}

export async function waitForPort(port, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function managed(name, parentDir, build, scheme) {
  const port = await freePort();
  const dir = mkdtempSync(join(parentDir, `${name}-`));
  chmodSync(dir, 0o777); // Mosquitto started as root drops to its own user.
  const { cmd, args } = build(port, dir);
  const child = track(spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }), name);
  let log = '';
  child.stderr.on('data', (d) => {
    log = (log + d.toString()).slice(-4000);
  });
  const failed = new Promise((_, reject) =>
    child.once('exit', (code) => reject(new Error(`${name} exited with code ${code}: ${log.trim()}`))),
  );
  failed.catch(() => {});
  await Promise.race([waitForPort(port), failed]);
  return { name, port, dir, pid: child.pid, child, url: `${scheme}://127.0.0.1:${port}` };
}

/**
 * `defaults: true`: Mosquitto's own defaults for queues and sockets (`max_inflight_messages 20`,
 * `max_queued_messages 1000`, Nagle's algorithm on), the set-up most users have.
 */
export function startMosquitto(parentDir, { defaults = false } = {}) {
  const tuned = [
    'max_queued_messages 1000000',
    'max_queued_bytes 0',
    'max_inflight_messages 1000',
    'set_tcp_nodelay true',
  ];
  return managed(
    'mosquitto',
    parentDir,
    (port, dir) => {
      const conf = join(dir, 'mosquitto.conf');
      writeFileSync(
        conf,
        [
          'per_listener_settings false',
          'allow_anonymous true',
          `listener ${port} 127.0.0.1`,
          // The harness persists to disk every second for restart tests; a throughput bench
          // does not restart the broker, so persistence is off (the same for every relay).
          'persistence false',
          ...(defaults ? [] : tuned),
          'log_dest stderr',
          'log_type error',
          'log_type warning',
          '',
        ].join('\n'),
      );
      return { cmd: 'mosquitto', args: ['-c', conf] };
    },
    'mqtt',
  );
}

export function startRedis(parentDir) {
  return managed(
    'redis',
    parentDir,
    (port, dir) => ({
      cmd: 'redis-server',
      args: [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxmemory-policy',
        'noeviction',
        '--daemonize',
        'no',
      ],
    }),
    'redis',
  );
}
