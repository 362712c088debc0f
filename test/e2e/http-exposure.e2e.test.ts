/**
 * The HTTP guards of `passerelle run` as a user starts it (the built CLI): the Host check with
 * names allowed by --allowed-host and PASSERELLE_ALLOWED_HOSTS, and the exposure warning.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../harness/ports.js';
import { CLI, tempDir, waitFor } from './service-process.js';

const tmp = tempDir('http-exposure');
const pipeline = tmp.write(
  'sim.yaml',
  'name: sim\nsource: { type: simulator, rate: 5, devices: 1 }\nsinks:\n  - type: log\n    output: ' +
    tmp.dir +
    '/out.jsonl\n',
);
const children: ReturnType<typeof spawn>[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  tmp.remove();
});

async function run(args: string[], env: Record<string, string> = {}) {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [CLI, 'run', pipeline, '--no-watch', ...args.map((a) => a.replace('PORT', String(port)))],
    {
      env: { ...process.env, PASSERELLE_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(child);
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  await waitFor(() => output.includes('passerelle started'), 20_000, `the service to start\n${output}`);
  return { port, output: () => output };
}

/** A GET with exactly this Host header. */
function get(port: number, host: string, path = '/status'): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('passerelle run: HTTP guards', { timeout: 60_000 }, () => {
  it('answers only its own names: localhost, --allowed-host and PASSERELLE_ALLOWED_HOSTS', async () => {
    const service = await run(['--http', '127.0.0.1:PORT', '--allowed-host', 'gw.example'], {
      PASSERELLE_ALLOWED_HOSTS: '.plant.example',
    });
    expect(await get(service.port, `127.0.0.1:${service.port}`)).toBe(200);
    expect(await get(service.port, 'gw.example:8080')).toBe(200);
    expect(await get(service.port, 'line-3.plant.example')).toBe(200);
    expect(await get(service.port, 'evil.example')).toBe(421);
    expect(service.output()).not.toMatch(/without an admin token/);
  });

  it('warns once when it listens on all interfaces without an admin token', async () => {
    const service = await run(['--http', '0.0.0.0:PORT']);
    expect(await get(service.port, `10.1.2.3:${service.port}`, '/healthz')).toBe(200);
    expect(service.output().match(/reachable from the network, without an admin token/g)).toHaveLength(1);
  });
});
