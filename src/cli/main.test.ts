import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { clearSecretsForTests } from '../sdk/index.js';
import { fakeRegistry } from '../config/fake-registry.fixture.js';
import { buildPipelineJsonSchema } from '../config/json-schema.js';
import { commands, main } from './main.js';

const tmp = mkdtempSync(join(tmpdir(), 'passerelle-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => clearSecretsForTests());

async function run(argv: string[], env: Record<string, string | undefined> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    registry: fakeRegistry,
    env,
    stdout: (s) => (stdout += s),
    stderr: (s) => (stderr += s),
  });
  return { code, stdout, stderr };
}

function write(name: string, text: string): string {
  const path = join(tmp, name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
}

const good = `name: plant-relay
source:
  type: mqtt
  url: mqtt://edge:1883
  topics: [plant/#]
  password: \${env:EDGE_PASSWORD}
sinks:
  - type: mqtt
    url: mqtt://cloud:1883
    topic: out
`;

describe('passerelle validate', () => {
  it('exits 0 and prints the delivery guarantee of each valid pipeline', async () => {
    const file = write('good/plant.yaml', good);
    const { code, stdout, stderr } = await run(['validate', file], { EDGE_PASSWORD: 'edge-secret' });
    expect(stderr).toBe('');
    expect(stdout).toBe('plant-relay: valid — source mqtt (at-least-once) -> sinks: mqtt at-least-once\n');
    expect(code).toBe(0);
  });

  it('exits 1 and prints file:line:col: path: message for each problem, never a secret', async () => {
    const bad = write(
      'bad/bad.yaml',
      good
        .replace('  topics: [plant/#]', '  topics: [plant/#]\n  payload: ${env:EDGE_PASSWORD}')
        .replace('    topic: out', '    topic: out\n    qso: 2'),
    );
    const other = write(
      'bad/other.yaml',
      good.replace('plant-relay', 'second').replace('type: mqtt\n  url', 'type: mqt\n  url'),
    );
    const { code, stdout, stderr } = await run(['validate', bad, other], { EDGE_PASSWORD: 'edge-secret' });
    expect(code).toBe(1);
    expect(stdout).toBe('');
    expect(stderr.split('\n')).toEqual([
      `${bad}:6:12: source.payload: expected "json", "text" or "bytes", got the value from \${env:EDGE_PASSWORD}`,
      `${bad}:12:5: sinks[0].qso: unknown key 'qso' — did you mean 'qos'?`,
      `${other}:3:9: source.type: unknown source type "mqt" — did you mean 'mqtt'? (available: mqtt, opcua)`,
      '3 problems found',
      '',
    ]);
    expect(stderr).not.toContain('edge-secret');
  });

  it('reports a literal secret and a missing variable', async () => {
    const file = write('secrets/p.yaml', good.replace('${env:EDGE_PASSWORD}', 'plain-text-pw'));
    const literal = await run(['validate', file]);
    expect(literal.code).toBe(1);
    expect(literal.stderr).toContain(
      `${file}:6:13: source.password: secrets must be given as \${env:NAME} or \${file:PATH}, not written in the pipeline file`,
    );
    expect(literal.stderr).not.toContain('plain-text-pw');
    const syntax = write('secrets/syntax.yaml', 'name: a\nsource:\n  type: mqtt\n url: x\n');
    expect((await run(['validate', syntax])).stderr).toBe(
      `${syntax}:4:1: YAML syntax: All mapping items must start at the same column; hint: check the indentation of this line against the lines above it\n1 problem found\n`,
    );
    const missing = await run(['validate', write('secrets/q.yaml', good)]);
    expect(missing.stderr).toContain(':6:13: source.password: environment variable EDGE_PASSWORD is not set');
    expect(missing.code).toBe(1);
  });

  it('reads pipelines/ by default', async () => {
    const dir = join(tmp, 'default');
    write('default/pipelines/a.yaml', good);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const { code, stdout } = await run(['validate'], { EDGE_PASSWORD: 'edge-secret' });
      expect(stdout).toContain('plant-relay: valid');
      expect(code).toBe(0);
      rmSync(join(dir, 'pipelines'), { recursive: true });
      const none = await run(['validate']);
      expect(none.stderr).toContain('pipelines/: no such file or folder');
      expect(none.code).toBe(1);
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('passerelle schema', () => {
  it('prints the JSON Schema as 2-space JSON with a final newline', async () => {
    const { code, stdout } = await run(['schema']);
    expect(code).toBe(0);
    expect(stdout).toBe(`${JSON.stringify(buildPipelineJsonSchema(fakeRegistry), null, 2)}\n`);
    expect(JSON.parse(stdout).definitions['sink.influxdb'].properties.token).toBeDefined();
  });
});

describe('passerelle connectors', () => {
  it('lists every component as a table', async () => {
    const { code, stdout } = await run(['connectors']);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^KIND\s+TYPE\s+TITLE\s+SUMMARY$/);
    expect(
      lines.slice(1).map((l) =>
        l
          .split(/\s{2,}/)
          .slice(0, 2)
          .join(' '),
      ),
    ).toEqual(['source mqtt', 'source opcua', 'transform pseudonymise', 'sink influxdb', 'sink mqtt']);
    expect(stdout).toContain('Replaces identifiers by keyed hashes.');
  });

  it('describes a type: options, nested names, delivery, examples', async () => {
    const { code, stdout } = await run(['connectors', 'mqtt']);
    expect(code).toBe(0);
    expect(stdout).toContain('mqtt (source) — MQTT subscriber');
    expect(stdout).toContain('mqtt (sink) — MQTT publisher');
    expect(stdout).toMatch(/^tls\.passphrase\s+secret\s+Passphrase of the private key\./m);
    expect(stdout).toMatch(/^keepalive\s+duration\s+30s\s+Keep-alive interval\./m);
    expect(stdout).toMatch(/^url\s+string\s+yes\s+Broker URL\./m);
    expect(stdout).toMatch(/^batch\.maxWait\s+duration\s+50ms/m);
    expect(stdout).toContain("Delivery: at-least-once (with the examples' settings).");
    expect(stdout).toContain(
      '# example 1\ntype: mqtt\nurl: mqtt://broker:1883\ntopics:\n  - plant/#\nqos: 1\n',
    );
  });

  it('exits 1 for an unknown type, with a suggestion', async () => {
    const { code, stderr } = await run(['connectors', 'influx']);
    expect(code).toBe(1);
    expect(stderr).toContain("unknown component type 'influx' — did you mean 'influxdb'?");
  });
});

describe('passerelle', () => {
  it('prints help and the version', async () => {
    const help = await run(['--help']);
    expect(help.code).toBe(0);
    for (const command of ['validate', 'schema', 'connectors']) expect(help.stdout).toContain(command);
    const version = await run(['--version']);
    expect(version.code).toBe(0);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(version.stdout).toBe(`${pkg.version}\n`);
    const sub = await run(['validate', '--help']);
    expect(sub.code).toBe(0);
    expect(sub.stdout).toContain('[paths...]');
  });

  it('exits 1 on an unknown command', async () => {
    const { code, stderr } = await run(['frobnicate']);
    expect(code).toBe(1);
    expect(stderr).toContain("unknown command 'frobnicate'");
  });

  it('uses the built-in registry by default', async () => {
    let stdout = '';
    const file = write('builtin/p.yaml', good);
    const code = await main(['validate', file], {
      stderr: () => {},
      stdout: (s) => (stdout += s),
      env: { EDGE_PASSWORD: 'x-secret' },
    });
    expect(code).toBe(0);
    // mqtt with QoS 1 but a clean session: the broker may drop unacknowledged messages on reconnect.
    expect(stdout).toContain('plant-relay: valid');
    expect(stdout).toContain('best-effort');
  });
});

describe('a command that runs after parsing (run)', () => {
  const commanderLoaded = () =>
    Object.keys(createRequire(import.meta.url).cache).some((file) =>
      /node_modules\/commander\/index\.js$/.test(file),
    );
  afterEach(() => {
    delete commands.probe;
  });

  it('runs once the parse is over, with the parser dropped while it runs, its errors reported', async () => {
    const events: string[] = [];
    const failWith: { message?: string } = {};
    commands.probe = async () => ({
      register: (program, deps) =>
        program.command('probe').action(() => {
          deps.afterParsing!(async () => {
            events.push(`work, commander loaded: ${commanderLoaded()}`);
            // transientRequire's delay (2 s) passes while the command runs: commander leaves the cache.
            await new Promise((resolve) => setTimeout(resolve, 2100));
            events.push(`later, commander loaded: ${commanderLoaded()}`);
            if (failWith.message) throw new Error(failWith.message);
            deps.setExitCode(3);
          });
          events.push('action done');
        }),
    });
    const ok = await run(['probe']);
    expect(events).toEqual(['action done', 'work, commander loaded: true', 'later, commander loaded: false']);
    expect(ok.code).toBe(3);
    failWith.message = 'the broker is gone';
    const failed = await run(['probe']);
    expect(failed).toMatchObject({ code: 1, stderr: 'passerelle: the broker is gone\n' });
  }, 10_000);
});
