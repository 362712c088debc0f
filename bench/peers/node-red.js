// Node-RED as a relay: mqtt in -> function (change a field) -> mqtt out, installed from npm into
// .bench/node-red (gitignored) on first use, started headless with a temporary user folder.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The last Node-RED line whose engines accept Node 20 (5.x needs node >= 22.9). */
export const NODE_RED_VERSION = '4.1.15';

export function nodeRedPaths(root) {
  const prefix = join(root, '.bench', 'node-red');
  const pkgDir = join(prefix, 'node_modules', 'node-red');
  return { prefix, pkgDir, entry: join(pkgDir, 'red.js') };
}

/** The version of `pkg` installed next to Node-RED, or null. */
export function installedVersion(root, pkg) {
  try {
    return JSON.parse(
      readFileSync(join(nodeRedPaths(root).prefix, 'node_modules', pkg, 'package.json'), 'utf8'),
    ).version;
  } catch {
    return null;
  }
}

export function installedNodeRedVersion(root) {
  return installedVersion(root, 'node-red');
}

/** `npm install <spec>` into the Node-RED folder; resolves with the seconds it took. */
export function npmInstall(root, spec, log) {
  const { prefix } = nodeRedPaths(root);
  mkdirSync(prefix, { recursive: true });
  log(`installing ${spec} into ${prefix} (once; needs the npm registry)`);
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    execFile(
      'npm',
      ['install', '--prefix', prefix, '--save-exact', spec, '--no-audit', '--no-fund', '--loglevel=error'],
      { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
      (err, _stdout, stderr) =>
        err
          ? reject(
              new Error(`npm install ${spec} failed: ${String(stderr).trim().slice(-1500) || err.message}`),
            )
          : resolve((Date.now() - t0) / 1000),
    );
  });
}

/** Installs the pinned Node-RED unless it is already there; returns the seconds it took (0 if present). */
export async function ensureNodeRed(root, log) {
  const record = join(nodeRedPaths(root).prefix, 'bench-install.json');
  if (installedNodeRedVersion(root) === NODE_RED_VERSION) {
    let seconds = 0;
    try {
      seconds = JSON.parse(readFileSync(record, 'utf8')).seconds ?? 0;
    } catch {
      /* installed by hand */
    }
    return { seconds, cached: true };
  }
  const seconds = await npmInstall(root, `node-red@${NODE_RED_VERSION}`, log);
  writeFileSync(record, JSON.stringify({ version: NODE_RED_VERSION, seconds, at: new Date().toISOString() }));
  return { seconds, cached: false };
}

/** The flow's tab and MQTT broker config nodes, and its `mqtt in` node (JSON) wired to `next`. */
export function mqttInFlow({ brokerPort, topic, qos, next }) {
  return [
    { id: 'bench-tab', type: 'tab', label: 'bench', disabled: false, info: '' },
    {
      id: 'bench-broker',
      type: 'mqtt-broker',
      name: 'bench',
      broker: '127.0.0.1',
      port: String(brokerPort),
      clientid: '',
      autoConnect: true,
      usetls: false,
      protocolVersion: '4',
      keepalive: '60',
      cleansession: true,
      autoUnsubscribe: true,
      birthTopic: '',
      closeTopic: '',
      willTopic: '',
      sessionExpiry: '',
    },
    {
      id: 'bench-in',
      type: 'mqtt in',
      z: 'bench-tab',
      name: 'in',
      topic,
      qos: String(qos),
      datatype: 'json',
      broker: 'bench-broker',
      nl: false,
      rap: true,
      rh: 0,
      inputs: 0,
      x: 100,
      y: 100,
      wires: [[next]],
    },
  ];
}

/** Writes settings and flow into `dir`; returns the command line that starts Node-RED. */
export function prepareNodeRed(root, dir, { brokerPort, httpPort, qos }) {
  const flows = [
    ...mqttInFlow({ brokerPort, topic: 'bench/in', qos, next: 'bench-fn' }),
    {
      id: 'bench-fn',
      type: 'function',
      z: 'bench-tab',
      name: 'change a field',
      func: [
        '// unit-convert + enrich, as the other relays',
        'const p = msg.payload;',
        'p.temperature = Math.round((p.temperature * 9) / 5 * 10 + 320) / 10;',
        "p.site = 'lyon';",
        'p.relayed = true;',
        'return msg;',
      ].join('\n'),
      outputs: 1,
      timeout: 0,
      noerr: 0,
      initialize: '',
      finalize: '',
      libs: [],
      x: 300,
      y: 100,
      wires: [['bench-out']],
    },
    {
      id: 'bench-out',
      type: 'mqtt out',
      z: 'bench-tab',
      name: 'out',
      topic: 'bench/out',
      qos: String(qos),
      retain: 'false',
      respTopic: '',
      contentType: '',
      userProps: '',
      correl: '',
      expiry: '',
      broker: 'bench-broker',
      x: 500,
      y: 100,
      wires: [],
    },
  ];
  return writeNodeRed(root, dir, { httpPort, flows });
}

/**
 * Writes `flows` and the settings into `dir` (plus `nodesDir`, a folder of extra nodes); returns the
 * command line that starts Node-RED.
 */
export function writeNodeRed(root, dir, { httpPort, flows, nodesDir }) {
  const { entry } = nodeRedPaths(root);
  const userDir = join(dir, 'user');
  mkdirSync(userDir, { recursive: true });
  const flowFile = join(userDir, 'flows.json');
  writeFileSync(flowFile, JSON.stringify(flows, null, 2));
  // What it takes to run offline and headless: no editor, no admin/HTTP-in routes, no telemetry or
  // update check, no auto-install of missing modules, a fixed credential secret (the broker node
  // has a credentials slot; without a secret Node-RED generates one and writes it to disk).
  const settings = `module.exports = {
  uiHost: '127.0.0.1',
  uiPort: ${httpPort},
  flowFile: ${JSON.stringify(flowFile)},
  userDir: ${JSON.stringify(userDir)},${nodesDir ? `\n  nodesDir: ${JSON.stringify(nodesDir)},` : ''}
  credentialSecret: 'bench-only',
  disableEditor: true,
  httpAdminRoot: false,
  httpNodeRoot: false,
  diagnostics: { enabled: false, ui: false },
  telemetry: { enabled: false },
  externalModules: { autoInstall: false, palette: { allowInstall: false }, modules: { allowInstall: false } },
  runtimeState: { enabled: false, ui: false },
  logging: { console: { level: 'warn', metrics: false, audit: false } },
  exportGlobalContextKeys: false,
};
`;
  const settingsFile = join(dir, 'settings.js');
  writeFileSync(settingsFile, settings);
  return {
    cmd: process.execPath,
    args: [entry, '--settings', settingsFile, '--userDir', userDir, '--port', String(httpPort), flowFile],
    env: { NODE_RED_ENABLE_PROJECTS: 'false' },
  };
}

export function nodeRedAvailable(root) {
  return existsSync(nodeRedPaths(root).entry);
}
