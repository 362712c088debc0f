import { connect } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createOutboxBackend } from '../outbox/index.js';
import type { Pipeline } from '../engine/pipeline.js';
import { createMessage, type Logger } from '../sdk/index.js';
import { hostAllowed, parseAllowedHosts, startHttpServer, type HttpOptions } from './http.js';

const TOKEN = 'http-test-token-0123456789';
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

interface Line {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}

function capturingLogger(lines: Line[]): Logger {
  const log =
    (level: string) =>
    (obj: object | string, msg?: string): void => {
      if (typeof obj === 'string') lines.push({ level, obj: {}, msg: obj });
      else lines.push({ level, obj: obj as Record<string, unknown>, msg: msg ?? '' });
    };
  const logger: Logger = {
    debug: log('debug'),
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    child: () => logger,
  };
  return logger;
}

async function start(options: Partial<HttpOptions> & { host: string }) {
  const backend = await createOutboxBackend({ retention: { maxAgeMs: 60_000, maxCount: 100 } });
  const metrics = new Registry();
  const http = await startHttpServer({
    port: 0,
    pipelines: () => [],
    metrics,
    info: () => ({ version: 'test' }),
    deadLetters: backend.deadLetters,
    ...options,
  });
  closers.push(async () => {
    await http.close();
    await backend.close();
  });
  const port = Number(new URL(http.url.replace('0.0.0.0', '127.0.0.1').replace('[::]', '[::1]')).port);
  return { http, port, metrics, backend };
}

/** One request written by hand, so the Host header (or its absence) is exactly what we say. */
function raw(port: number, request: string): Promise<{ status: number; body: string; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', reject);
    socket.on('end', () => {
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1] ?? 0);
      const head = text.slice(0, text.indexOf('\r\n\r\n'));
      let body = text.slice(head.length + 4);
      if (/^transfer-encoding: chunked/im.test(head)) body = dechunk(body);
      resolve({ status, body: Buffer.from(body, 'latin1').toString('utf8'), text });
    });
    socket.write(request);
  });
}

function dechunk(text: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const eol = text.indexOf('\r\n', at);
    const size = parseInt(text.slice(at, eol), 16);
    if (!(size > 0)) return out;
    out += text.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

function get(port: number, path: string, host: string | undefined, extra = ''): ReturnType<typeof raw> {
  const hostLine = host === undefined ? '' : `Host: ${host}\r\n`;
  return raw(port, `GET ${path} HTTP/1.1\r\n${hostLine}${extra}Connection: close\r\n\r\n`);
}

describe('Date header', () => {
  // V8's Date#toUTCString (Node's own Date header) pages in ICU's time zone names: see utc-time.ts.
  it('sends the HTTP Date header without Date#toUTCString', async () => {
    const toUTCString = vi.spyOn(Date.prototype, 'toUTCString');
    try {
      const { port } = await start({ host: '127.0.0.1' });
      const before = Math.floor(Date.now() / 1000) * 1000;
      const { status, text } = await get(port, '/healthz', `127.0.0.1:${port}`);
      expect(status).toBe(200);
      const date = /^date: (.*)$/im.exec(text)?.[1]?.trim() ?? '';
      expect(date).toMatch(/^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$/);
      expect(Date.parse(date)).toBeGreaterThanOrEqual(before);
      expect(Date.parse(date)).toBeLessThanOrEqual(Date.now());
      expect(text.match(/^date:/gim)).toHaveLength(1);
      expect(toUTCString).not.toHaveBeenCalled();
    } finally {
      toUTCString.mockRestore();
    }
  });
});

describe('Host header check (DNS rebinding)', () => {
  it('bound to loopback: answers localhost and loopback literals on any port, refuses other names with 421', async () => {
    const { port, metrics } = await start({ host: '127.0.0.1' });
    for (const host of [
      `127.0.0.1:${port}`,
      `localhost:${port}`,
      'localhost',
      `[::1]:${port}`,
      'LOCALHOST:9999',
    ])
      expect((await get(port, '/api/overview', host)).status, host).toBe(200);
    for (const host of [
      `attacker.example:${port}`,
      'attacker.example',
      `127.0.0.1.nip.io:${port}`,
      'localhost.attacker.example',
      `10.1.2.3:${port}`,
      '',
    ]) {
      const answer = await get(port, '/status', host);
      expect(answer.status, host).toBe(421);
      expect(answer.body).toMatch(/Host/);
      expect(answer.body).not.toContain('attacker');
      expect(answer.text).toMatch(/content-type: text\/plain/i);
    }
    // Every path, the probes and the console's assets too: nothing is served to a foreign name.
    for (const path of ['/', '/healthz', '/metrics', '/api/dead-letters', '/assets/console.js'])
      expect((await get(port, path, 'attacker.example')).status, path).toBe(421);
    // HTTP/1.0 without a Host is no browser, but it is refused all the same.
    expect((await raw(port, 'GET /status HTTP/1.0\r\n\r\n')).status).toBe(421);
    const counted = await metrics.getSingleMetricAsString('passerelle_http_requests_refused_total');
    expect(counted).toMatch(/reason="host"} 1[2-9]/);
  });

  it('bound to all interfaces: IP literals (probes send the pod IP) and localhost pass, names only when allowed', async () => {
    const { port } = await start({
      host: '0.0.0.0',
      adminToken: TOKEN,
      allowedHosts: ['passerelle.example.com', '.svc.cluster.local'],
    });
    for (const host of [`10.244.1.7:${port}`, `[fd00::7]:${port}`, `localhost:${port}`, '192.168.1.20'])
      expect((await get(port, '/healthz', host)).status, host).toBe(200);
    for (const host of [
      'passerelle.example.com',
      'PASSERELLE.example.com:443',
      'passerelle.ns.svc.cluster.local:8080',
    ])
      expect((await get(port, '/healthz', host)).status, host).toBe(200);
    for (const host of ['evil.example.com', 'passerelle.example.com.evil.example', 'svc.cluster.local.evil'])
      expect((await get(port, '/healthz', host)).status, host).toBe(421);
  });

  it('bound to one address: that address, loopback and allowed names', async () => {
    expect(hostAllowed('192.168.1.20:8080', '192.168.1.20', [])).toBe(true);
    expect(hostAllowed('192.168.1.21:8080', '192.168.1.20', [])).toBe(false);
    expect(hostAllowed('127.0.0.1:8080', '192.168.1.20', [])).toBe(true);
    expect(hostAllowed('gateway.plant.local', 'gateway.plant.local', [])).toBe(true);
    expect(hostAllowed('gateway.plant.local.', '192.168.1.20', ['gateway.plant.local'])).toBe(true);
    expect(hostAllowed('[::1]', '::1', [])).toBe(true);
    expect(hostAllowed('[fd00::1]:80', '::', [])).toBe(true);
    expect(hostAllowed('[fd00::1', '::', [])).toBe(false);
    expect(hostAllowed(undefined, '127.0.0.1', [])).toBe(false);
    expect(hostAllowed('a b', '127.0.0.1', ['a b'])).toBe(false);
  });
});

describe('allowed host names (--allowed-host, PASSERELLE_ALLOWED_HOSTS)', () => {
  it('takes names, .suffixes and IP addresses, comma or space separated, and refuses anything else', () => {
    expect(parseAllowedHosts(['passerelle.example.com, .svc.cluster.local', 'gw-1 [fd00::1]'])).toEqual([
      'passerelle.example.com',
      '.svc.cluster.local',
      'gw-1',
      'fd00::1',
    ]);
    for (const bad of ['http://x.example', 'x.example:8080', '*.example.com', 'a/b'])
      expect(() => parseAllowedHosts([bad]), bad).toThrow(/not a host name/);
  });
});

describe('errors never leak, bad requests are 400', () => {
  it('answers a malformed % escape with 400, not 500', async () => {
    const { port } = await start({ host: '127.0.0.1' });
    const answer = await get(port, '/api/dead-letters/%E0%A4%A', `127.0.0.1:${port}`);
    expect(answer.status).toBe(400);
    expect(answer.body).toMatch(/escape/);
    expect((await get(port, '/api/dead-letters/%zz', `127.0.0.1:${port}`)).status).toBe(400);
  });

  it('a /metrics scrape refreshes the outbox gauges without building the status (no copy of recent messages)', async () => {
    const calls = { status: 0, refreshGauges: 0 };
    const pipeline = {
      name: 'p',
      ready: () => true,
      status: () => {
        calls.status++;
        return Promise.resolve({});
      },
      refreshGauges: () => {
        calls.refreshGauges++;
        return Promise.resolve({});
      },
    } as unknown as Pipeline;
    const { port } = await start({ host: '127.0.0.1', pipelines: () => [pipeline] });
    const answer = await get(port, '/metrics', `127.0.0.1:${port}`);
    expect(answer.status).toBe(200);
    expect(calls).toEqual({ status: 0, refreshGauges: 1 });
  });

  it('an internal error answers 500 with an id and a generic text; the details go to the log only', async () => {
    const lines: Line[] = [];
    const failing = {
      name: 'p',
      ready: () => true,
      status: () => Promise.reject(new Error('secret detail: redis://user:hunter2@db at /srv/app/x.js:12')),
      refreshGauges: () =>
        Promise.reject(new Error('secret detail: redis://user:hunter2@db at /srv/app/x.js:12')),
    } as unknown as Pipeline;
    const { port } = await start({
      host: '127.0.0.1',
      pipelines: () => [failing],
      logger: capturingLogger(lines),
    });
    for (const path of ['/status', '/api/overview', '/metrics']) {
      const answer = await get(port, path, `127.0.0.1:${port}`);
      expect(answer.status, path).toBe(500);
      expect(answer.body).not.toMatch(/secret|hunter2|\.js|Error/);
      const id = /\(id ([0-9a-f]{8,})\)/.exec(answer.body)?.[1];
      expect(id, answer.body).toBeDefined();
      const logged = lines.find((l) => l.obj.errorId === id);
      expect(logged?.level).toBe('error');
      expect(JSON.stringify(logged?.obj)).toContain('secret detail');
      expect(JSON.stringify(logged?.obj)).not.toContain('hunter2');
    }
  });
});

describe('exposure warning', () => {
  it('warns once at start when bound to a non-loopback address without an admin token', async () => {
    const lines: Line[] = [];
    await start({ host: '0.0.0.0', logger: capturingLogger(lines) });
    const warnings = lines.filter((l) => l.level === 'warn' && /admin token/.test(l.msg));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/0\.0\.0\.0/);

    for (const [host, adminToken] of [
      ['127.0.0.1', undefined],
      ['::1', undefined],
      ['0.0.0.0', TOKEN],
    ] as const) {
      const quiet: Line[] = [];
      await start({ host, logger: capturingLogger(quiet), ...(adminToken ? { adminToken } : {}) });
      expect(
        quiet.filter((l) => l.level === 'warn'),
        host,
      ).toEqual([]);
    }
  });
});

describe('dead letters with hostile payloads render', () => {
  it('a payload nested 100,000 levels deep and one of 2 MB render as bounded previews', async () => {
    const { port, backend } = await start({ host: '127.0.0.1' });
    const deep = JSON.parse('['.repeat(100_000) + ']'.repeat(100_000)) as unknown;
    const large = { text: 'x'.repeat(2 * 1024 * 1024) };
    await backend.deadLetters.add(
      [deep, large].map((payload, i) => ({
        pipeline: 'p',
        stage: 'transforms[0]',
        reason: 'bad',
        message: createMessage({ id: `m${i}`, payload, meta: {}, time: Date.now() }),
        time: Date.now(),
        attempts: 1,
      })),
    );
    const list = await get(port, '/api/dead-letters', `127.0.0.1:${port}`);
    expect(list.status).toBe(200);
    const items = (JSON.parse(list.body) as { items: { id: string; preview: string }[] }).items;
    expect(items).toHaveLength(2);
    for (const item of items) {
      expect(item.preview.length).toBeLessThanOrEqual(300);
      const one = await get(port, `/api/dead-letters/${item.id}`, `127.0.0.1:${port}`);
      expect(one.status).toBe(200);
      expect(one.body.length).toBeLessThan(300_000);
      expect(one.body).toMatch(/nested deeper than|more characters/);
    }
  });
});
