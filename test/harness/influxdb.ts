/**
 * A throwaway InfluxDB 1.x (Debian's influxd 1.6) for tests: HTTP and RPC on free ports, meta,
 * data and WAL in a temporary folder, optional authentication with an admin user.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stopChild, type ServiceOptions, type ServiceProcess } from './services.js';
import { freePort } from './ports.js';

export interface InfluxDBOptions extends ServiceOptions {
  /** Turns on `auth-enabled` and creates this admin user (with all privileges). */
  admin?: { username: string; password: string };
  /** Extra lines for the [http] section, e.g. `max-body-size = 4000`. */
  httpConfig?: string[];
  /** HTTPS with this certificate (PEM files); `ca` is what the harness trusts for its own requests. */
  tls?: { certificate: string; privateKey: string; ca: string };
}

export interface InfluxDBHandle extends ServiceProcess {
  /** Runs an InfluxQL statement through /query (as the admin, when auth is on); returns the JSON answer. */
  query(q: string, db?: string): Promise<InfluxQueryResult>;
  /** Writes line protocol with nanosecond times through /write (as the admin, when auth is on). */
  write(lines: string[], db: string): Promise<void>;
}

export interface InfluxQueryResult {
  results: {
    error?: string;
    series?: { name: string; tags?: Record<string, string>; columns: string[]; values: unknown[][] }[];
  }[];
}

const INFLUXD = '/usr/bin/influxd';

function config(
  dir: string,
  port: number,
  rpcPort: number,
  auth: boolean,
  http: string[],
  tls: InfluxDBOptions['tls'],
): string {
  return [
    'reporting-disabled = true',
    // The RPC (backup) port defaults to 8088: a second instance would fail to bind it.
    `bind-address = "127.0.0.1:${rpcPort}"`,
    '[meta]',
    `  dir = "${dir}/meta"`,
    '[data]',
    `  dir = "${dir}/data"`,
    `  wal-dir = "${dir}/wal"`,
    '  query-log-enabled = false',
    '[monitor]',
    '  store-enabled = false',
    '[http]',
    `  bind-address = "127.0.0.1:${port}"`,
    `  auth-enabled = ${auth}`,
    '  log-enabled = false',
    ...(tls
      ? [
          '  https-enabled = true',
          `  https-certificate = "${tls.certificate}"`,
          `  https-private-key = "${tls.privateKey}"`,
        ]
      : []),
    ...http.map((line) => `  ${line}`),
    '',
  ].join('\n');
}

type Send = (
  method: string,
  path: string,
  body?: string,
  headers?: Record<string, string>,
) => Promise<{ status: number; text: string }>;

/** One HTTP(S) request to the instance (fetch can not be told to trust a test CA). */
function sender(url: string, ca: Buffer | undefined): Send {
  return (method, path, body, headers = {}) =>
    new Promise((resolve, reject) => {
      const request = url.startsWith('https:') ? httpsRequest : httpRequest;
      const req = request(
        `${url}${path}`,
        {
          method,
          timeout: 5000,
          ...(ca ? { ca } : {}),
          headers: {
            ...headers,
            ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end(body);
    });
}

async function pingUntilReady(
  send: Send,
  child: ChildProcess,
  dir: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`influxd exited with code ${child.exitCode}; see ${dir}/influxd.log`);
    try {
      if ((await send('GET', '/ping')).status === 204) return;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline)
      throw new Error(`influxd did not answer /ping within ${timeoutMs} ms; see ${dir}/influxd.log`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startInfluxDB(options: InfluxDBOptions = {}): Promise<InfluxDBHandle> {
  const port = await freePort();
  const rpcPort = await freePort();
  const dir = mkdtempSync(join(options.parentDir ?? tmpdir(), 'passerelle-influxdb-'));
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  const send = sender(url, options.tls ? readFileSync(options.tls.ca) : undefined);
  const confFile = join(dir, 'influxdb.conf');
  writeFileSync(
    confFile,
    config(dir, port, rpcPort, options.admin !== undefined, options.httpConfig ?? [], options.tls),
  );
  const logFile = join(dir, 'influxd.log');
  let child: ChildProcess | undefined;

  const start = async (): Promise<void> => {
    const c = spawn(INFLUXD, ['-config', confFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    options.onSpawn?.(c, 'influxd');
    const chunks: string[] = [];
    c.stdout?.on('data', (d: Buffer) => chunks.push(d.toString()));
    c.stderr?.on('data', (d: Buffer) => chunks.push(d.toString()));
    c.on('exit', () => {
      try {
        writeFileSync(logFile, chunks.join(''), { flag: 'a' });
      } catch {
        /* folder already removed */
      }
    });
    await pingUntilReady(send, c, dir);
  };

  const authHeader: Record<string, string> | undefined = options.admin
    ? {
        authorization: `Basic ${Buffer.from(`${options.admin.username}:${options.admin.password}`).toString('base64')}`,
      }
    : undefined;
  const query = async (q: string, db?: string): Promise<InfluxQueryResult> => {
    const body = new URLSearchParams({ q, ...(db ? { db } : {}) }).toString();
    const res = await send('POST', '/query', body, authHeader);
    const json = JSON.parse(res.text) as InfluxQueryResult & { error?: string };
    if (res.status !== 200 || json.error)
      throw new Error(`InfluxDB query "${q}": ${res.status} ${json.error ?? ''}`);
    const failed = json.results.find((r) => r.error);
    if (failed) throw new Error(`InfluxDB query "${q}": ${failed.error}`);
    return json;
  };

  const write = async (lines: string[], db: string): Promise<void> => {
    const path = `/write?${new URLSearchParams({ db, precision: 'ns' }).toString()}`;
    const res = await send('POST', path, lines.join('\n'), authHeader);
    if (res.status !== 204) throw new Error(`InfluxDB write: ${res.status} ${res.text}`);
  };

  await start();
  if (options.admin) {
    // With auth on and no user yet, InfluxDB 1.x accepts exactly this statement without credentials.
    const body = new URLSearchParams({
      q: `CREATE USER "${options.admin.username}" WITH PASSWORD '${options.admin.password.replace(/'/g, "\\'")}' WITH ALL PRIVILEGES`,
    }).toString();
    const res = await send('POST', '/query', body);
    if (res.status !== 200)
      throw new Error(`creating the InfluxDB admin user failed: ${res.status} ${res.text}`);
  }

  return {
    port,
    dir,
    url,
    get child() {
      return child;
    },
    get pid() {
      return child?.pid;
    },
    query,
    write,
    stop: (opts) => stopChild(child, opts?.kill ?? false),
    restart: async () => {
      await stopChild(child, false);
      await start();
    },
    dispose: async () => {
      await stopChild(child, true);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The admin user of the instances tests start with authentication. */
export const TEST_ADMIN = { username: 'admin', password: 'admin-password-for-tests' };

/** An instance without authentication and one with TEST_ADMIN, each with `database`. */
export async function startInfluxPair(
  database: string,
): Promise<[open: InfluxDBHandle, secured: InfluxDBHandle]> {
  const pair = await Promise.all([startInfluxDB(), startInfluxDB({ admin: TEST_ADMIN })]);
  await Promise.all(pair.map((handle) => handle.query(`CREATE DATABASE ${database}`)));
  return pair;
}
