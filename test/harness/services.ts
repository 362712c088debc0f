/**
 * Throwaway service instances for tests: each on a free port, with its own temporary folder, so
 * tests never touch the machine's shared Redis or Mosquitto. Debian packages: redis-server, mosquitto.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCertificates } from './certificates.js';
import { freePort, waitForPort } from './ports.js';

export interface ServiceHandle {
  port: number;
  url: string;
  dir: string;
  /** Stops the process (SIGTERM, or SIGKILL with `kill: true`). */
  stop(options?: { kill?: boolean }): Promise<void>;
  /** Starts it again on the same port with the same data folder. */
  restart(): Promise<void>;
  /** Stops it for good and removes its folder. */
  dispose(): Promise<void>;
}

/** A service that runs as a process of ours. */
export interface ServiceProcess extends ServiceHandle {
  /** The running process (undefined once stopped), e.g. to read its CPU time from /proc. */
  readonly child: ChildProcess | undefined;
  readonly pid: number | undefined;
}

/** Where a service runs and who watches its process (the bench tracks them to kill them on exit). */
export interface ServiceOptions {
  /** Folder in which the service's own temporary folder is made: the system's by default. */
  parentDir?: string;
  /** Called with each process started (at start and restart). */
  onSpawn?: (child: ChildProcess, name: string) => void;
}

function startProcess(
  cmd: string,
  args: string[],
  logFile: string,
): { child: ChildProcess; output(): string } {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: string[] = [];
  child.stdout?.on('data', (d: Buffer) => chunks.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => chunks.push(d.toString()));
  child.on('exit', () => {
    try {
      writeFileSync(logFile, chunks.join(''), { flag: 'a' });
    } catch {
      /* folder already removed */
    }
  });
  return { child, output: () => chunks.join('') };
}

/** Stops a child process (SIGTERM, or SIGKILL with `kill`) and resolves once it has exited. */
export function stopChild(child: ChildProcess | undefined, kill: boolean): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(kill ? 'SIGKILL' : 'SIGTERM');
  });
}

async function managed(
  name: string,
  build: (port: number, dir: string) => { cmd: string; args: string[] },
  scheme: string,
  options: ServiceOptions,
): Promise<ServiceProcess> {
  const port = await freePort();
  const dir = mkdtempSync(join(options.parentDir ?? tmpdir(), `passerelle-${name}-`));
  // Mosquitto started as root drops to its own user: let it write its persistence file here.
  chmodSync(dir, 0o777);
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    const { cmd, args } = build(port, dir);
    const started = startProcess(cmd, args, join(dir, `${name}.log`));
    child = started.child;
    options.onSpawn?.(child, name);
    const failed = new Promise<never>((_, reject) =>
      child?.once('exit', (code) =>
        reject(new Error(`${name} exited with code ${code}: ${started.output().trim().slice(-4000)}`)),
      ),
    );
    failed.catch(() => {});
    await Promise.race([waitForPort(port), failed]);
  };
  await start();
  const running = (): ChildProcess | undefined =>
    child?.exitCode === null && child.signalCode === null ? child : undefined;
  return {
    port,
    dir,
    url: `${scheme}://127.0.0.1:${port}`,
    get child() {
      return running();
    },
    get pid() {
      return running()?.pid;
    },
    stop: (options) => stopChild(child, options?.kill ?? false),
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

export interface RedisOptions extends ServiceOptions {
  /** Append-only file on, fsync every write: the set-up that survives a restart with nothing lost. */
  appendOnly?: boolean;
}

export function startRedis(options: RedisOptions = {}): Promise<ServiceProcess> {
  return managed(
    'redis',
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
        options.appendOnly ? 'yes' : 'no',
        '--appendfsync',
        'always',
        '--maxmemory-policy',
        'noeviction',
        '--daemonize',
        'no',
      ],
    }),
    'redis',
    options,
  );
}

export interface MosquittoOptions extends ServiceOptions {
  websocketPort?: boolean;
  /** Persist to disk every second, for restart tests (default). A throughput bench turns it off. */
  persistence?: boolean;
  /**
   * Mosquitto's own defaults for queues and sockets (`max_inflight_messages 20`,
   * `max_queued_messages 1000`, Nagle's algorithm on), the set-up most users have.
   */
  brokerDefaults?: boolean;
  /** Extra lines for mosquitto.conf (users, TLS listeners...). */
  extraConfig?: string;
}

/**
 * Mosquitto configured as the docs recommend for a bridge: large per-client queues, so that a slow
 * QoS 1 subscriber is never silently dropped by the broker's defaults (max_queued_messages 1000).
 */
export async function startMosquitto(
  options: MosquittoOptions = {},
): Promise<ServiceProcess & { wsPort?: number }> {
  const wsPort = options.websocketPort ? await freePort() : undefined;
  const handle = await managed(
    'mosquitto',
    (port, dir) => {
      const conf = join(dir, 'mosquitto.conf');
      writeFileSync(
        conf,
        [
          'per_listener_settings false',
          'allow_anonymous true',
          `listener ${port} 127.0.0.1`,
          ...(wsPort ? [`listener ${wsPort} 127.0.0.1`, 'protocol websockets'] : []),
          ...(options.persistence === false
            ? ['persistence false']
            : ['persistence true', `persistence_location ${dir}/`, 'autosave_interval 1']),
          ...(options.brokerDefaults
            ? []
            : [
                'max_queued_messages 1000000',
                'max_queued_bytes 0',
                'max_inflight_messages 1000',
                // Without it the broker's Nagle algorithm meets the client's delayed ACKs: ~40 ms per batch of PUBACKs.
                'set_tcp_nodelay true',
              ]),
          'log_dest stderr',
          'log_type error',
          'log_type warning',
          options.extraConfig ?? '',
        ].join('\n'),
      );
      return { cmd: 'mosquitto', args: ['-c', conf] };
    },
    'mqtt',
    options,
  );
  // Not a spread: `child` and `pid` are getters.
  return Object.assign(handle, { wsPort });
}

export interface SecureMosquitto extends ServiceProcess {
  /** The TLS listener: `mqtts://127.0.0.1:<tlsPort>`, same users. */
  tlsUrl: string;
  tlsPort: number;
  /** The CA file that signed the server certificate (for 127.0.0.1 and localhost): a client's `tls.ca`. */
  ca: string;
}

/**
 * Mosquitto that refuses anonymous clients, with a password file of `users` (name: password), a
 * plain listener (`url`) and a TLS one (`tlsUrl`) whose certificate is signed by a throwaway CA.
 */
export async function startSecureMosquitto(users: Record<string, string>): Promise<SecureMosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'passerelle-mosquitto-tls-'));
  try {
    // Mosquitto started as root drops to its own user: it must be able to read these.
    chmodSync(dir, 0o755);
    const passwd = join(dir, 'passwd');
    for (const [name, password] of Object.entries(users))
      execFileSync('mosquitto_passwd', [...(existsSync(passwd) ? [] : ['-c']), '-b', passwd, name, password]);
    const { ca, cert, key } = createTestCertificates(dir);
    for (const file of [passwd, ca, cert, key]) chmodSync(file, 0o644);
    const tlsPort = await freePort();
    const broker = await startMosquitto({
      extraConfig: [
        'allow_anonymous false',
        `password_file ${passwd}`,
        `listener ${tlsPort} 127.0.0.1`,
        `cafile ${ca}`,
        `certfile ${cert}`,
        `keyfile ${key}`,
      ].join('\n'),
    });
    const dispose = broker.dispose;
    // Not a spread: `child` and `pid` are getters.
    return Object.assign(broker, {
      tlsPort,
      tlsUrl: `mqtts://127.0.0.1:${tlsPort}`,
      ca,
      dispose: async () => {
        await dispose();
        rmSync(dir, { recursive: true, force: true });
      },
    });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
