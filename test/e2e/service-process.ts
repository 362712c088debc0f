/**
 * Runs `passerelle run` as a real child process (the built CLI), so end-to-end tests exercise the
 * same code path as a user, including signals and kill -9.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../harness/ports.js';

const ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'bin/passerelle.js');

export interface ServiceProcess {
  child: ChildProcess;
  httpUrl: string;
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

export function tempDir(prefix: string): {
  dir: string;
  write(name: string, text: string): string;
  remove(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), `passerelle-${prefix}-`));
  return {
    dir,
    write(name, text) {
      const path = join(dir, name);
      writeFileSync(path, text);
      return path;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export async function startService(
  files: string[],
  options: { redisUrl?: string; env?: Record<string, string>; args?: string[] } = {},
): Promise<ServiceProcess> {
  const port = await freePort();
  const args = [CLI, 'run', ...files, '--http', `127.0.0.1:${port}`, ...(options.args ?? [])];
  if (options.redisUrl) args.push('--redis', options.redisUrl);
  const child = spawn(process.execPath, args, {
    env: { ...process.env, PASSERELLE_LOG_LEVEL: 'warn', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
  return {
    child,
    httpUrl: `http://127.0.0.1:${port}`,
    output: () => out,
    exited,
    kill: (signal = 'SIGTERM') => child.kill(signal),
  };
}

export async function waitFor(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function waitReady(service: ServiceProcess, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    async () => {
      if (service.child.exitCode !== null)
        throw new Error(`service exited early (${service.child.exitCode}):\n${service.output()}`);
      try {
        return (await fetch(`${service.httpUrl}/readyz`)).status === 200;
      } catch {
        return false;
      }
    },
    timeoutMs,
    `readiness of the service\n${service.output()}`,
  );
}

/** Reads one Prometheus sample, summing every series whose labels contain `labels`. */
export async function metric(
  service: ServiceProcess,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await (await fetch(`${service.httpUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.split(' ').pop());
  }
  return sum;
}
