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

export function installedNodeRedVersion(root) {
  const { pkgDir } = nodeRedPaths(root);
  try {
    return JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

/** Installs the pinned Node-RED unless it is already there; returns the seconds it took (0 if present). */
export function ensureNodeRed(root, log) {
  const { prefix } = nodeRedPaths(root);
  const record = join(prefix, 'bench-install.json');
  if (installedNodeRedVersion(root) === NODE_RED_VERSION) {
    let seconds = 0;
    try {
      seconds = JSON.parse(readFileSync(record, 'utf8')).seconds ?? 0;
    } catch {
      /* installed by hand */
    }
    return Promise.resolve({ seconds, cached: true });
  }
  mkdirSync(prefix, { recursive: true });
  log(`installing node-red@${NODE_RED_VERSION} into ${prefix} (once; needs the npm registry)`);
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    execFile(
      'npm',
      [
        'install',
        '--prefix',
        prefix,
        `node-red@${NODE_RED_VERSION}`,
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
      ],
      { timeout: 300_000, maxBuffer: 16 * 1024 * 1024 },
      (err, _stdout, stderr) => {
        if (err)
          reject(
            new Error(
              `npm install node-red@${NODE_RED_VERSION} failed: ${String(stderr).trim().slice(-1500) || err.message}`,
            ),
          );
        else {
          const seconds = (Date.now() - t0) / 1000;
          writeFileSync(
            record,
            JSON.stringify({ version: NODE_RED_VERSION, seconds, at: new Date().toISOString() }),
          );
          resolve({ seconds, cached: false });
        }
      },
    );
  });
}

/** Writes settings and flow into `dir`; returns the command line that starts Node-RED. */
export function prepareNodeRed(root, dir, { brokerPort, httpPort, qos }) {
  const { entry } = nodeRedPaths(root);
  const userDir = join(dir, 'user');
  mkdirSync(userDir, { recursive: true });
  const flows = [
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
      topic: 'bench/in',
      qos: String(qos),
      datatype: 'json',
      broker: 'bench-broker',
      nl: false,
      rap: true,
      rh: 0,
      inputs: 0,
      x: 100,
      y: 100,
      wires: [['bench-fn']],
    },
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
  const flowFile = join(userDir, 'flows.json');
  writeFileSync(flowFile, JSON.stringify(flows, null, 2));
  // What it takes to run offline and headless: no editor, no admin/HTTP-in routes, no telemetry or
  // update check, no auto-install of missing modules, a fixed credential secret (the broker node
  // has a credentials slot; without a secret Node-RED generates one and writes it to disk).
  const settings = `module.exports = {
  uiHost: '127.0.0.1',
  uiPort: ${httpPort},
  flowFile: ${JSON.stringify(flowFile)},
  userDir: ${JSON.stringify(userDir)},
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
