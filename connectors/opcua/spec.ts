import { z } from 'zod';
import {
  deliveryBatchSize,
  duration,
  secret,
  type ConfigWarning,
  builtSchema,
  lazySchema,
} from '../../src/sdk/index.js';
import type { SourceSpec } from '../../src/sdk/index.js';

/**
 * The config of the `opcua` source, and the connection settings it shares with the `opcua-write`
 * sink (connectors/opcua-write/spec.ts).
 * Nothing here imports node-opcua (0.9 s to load): validation stays fast for every CLI command.
 */

/** `ns=2;s=Motor.Speed`, `i=2258`, `nsu=urn:plant;s=Line1.Temp`, `ns=1;g=<guid>`, `ns=1;b=<base64>`. */
const NODE_ID =
  /^(?:(?:ns=\d{1,5}|nsu=[^;]+);)?(?:i=\d+|s=[\s\S]+|g=[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|b=[A-Za-z0-9+/]+={0,2})$/;

/** Why a NodeId text is malformed, or undefined when it is well formed. */
export function nodeIdProblem(text: string): string | undefined {
  if (NODE_ID.test(text.trim())) {
    const ns = /^ns=(\d+);/.exec(text.trim());
    if (ns && Number(ns[1]) > 65_535) return `namespace index ${ns[1]} is above 65535`;
    const i = /(?:^|;)i=(\d+)$/.exec(text.trim());
    if (i && Number(i[1]) > 4_294_967_295) return `numeric identifier ${i[1]} is above 4294967295`;
    return undefined;
  }
  return `"${text}" is not a NodeId: expected ns=<index>;s=<name>, ns=<index>;i=<number>, i=<number>, nsu=<namespace URI>;s=<name> (also g=<guid>, b=<base64>)`;
}

export const SECURITY_POLICIES = ['None', 'Basic256Sha256', 'Aes128_Sha256_RsaOaep', 'Aes256_Sha256_RsaPss'];
const DEPRECATED_POLICIES = ['Basic128Rsa15', 'Basic256'];

const nodeIdText = lazySchema(() =>
  z
    .string()
    .superRefine((t, ctx) => {
      const problem = nodeIdProblem(t);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .describe('A NodeId'),
);

const browsePathText = lazySchema(() =>
  z
    .string()
    .min(1)
    .superRefine((p, ctx) => {
      const segments = p.replace(/^\/+/, '').split('/');
      if (segments.some((s) => s.trim() === ''))
        ctx.addIssue({ code: 'custom', message: `browse path "${p}" has an empty segment` });
    }),
);

/** Settings that apply to each monitored node, given per node or as defaults. */
const monitoringShape = lazySchema(() => ({
  samplingInterval: duration(
    'How often the server samples the value. 0 = as fast as the server can (on change, for most servers). Default: the publishing interval.',
  ).optional(),
  queueSize: z
    .number()
    .int()
    .min(1)
    .max(10_000)
    .optional()
    .describe(
      'Changes the server keeps per node between two publishes (oldest dropped first). 1 keeps only the latest. Default 10.',
    ),
  deadband: z
    .strictObject({
      type: z
        .enum(['absolute', 'percent'])
        .describe(
          'absolute: in the value unit; percent: of the EURange, only on AnalogItem nodes (the server refuses it elsewhere).',
        ),
      value: z.number().nonnegative().describe('The deadband: a change smaller than this is not reported.'),
    })
    .superRefine((d, ctx) => {
      if (d.type === 'percent' && d.value > 100)
        ctx.addIssue({ code: 'custom', path: ['value'], message: 'a percent deadband is between 0 and 100' });
    })
    .optional()
    .describe('Report a numeric change only when it exceeds this deadband.'),
  trigger: z
    .enum(['status', 'statusValue', 'statusValueTimestamp'])
    .optional()
    .describe(
      'What counts as a change: status (only the status code), statusValue (value or status; the default), statusValueTimestamp (also a new source timestamp with the same value).',
    ),
}));

const nodeObject = lazySchema(() =>
  z
    .strictObject({
      nodeId: nodeIdText
        .optional()
        .describe(
          'The node: `ns=2;s=Line1.Temperature`, `i=2258`, or `nsu=<namespace URI>;s=...` (the namespace index is looked up at every connect, so it survives a server that reorders its namespaces).',
        ),
      browsePath: browsePathText
        .optional()
        .describe(
          'The node by browse names from the Objects folder: `Plant/Line1/Temperature`. Each segment matches the browse name in any namespace; resolved at every connect.',
        ),
      folder: z
        .union([builtSchema(nodeIdText), builtSchema(browsePathText)])
        .optional()
        .describe(
          'Every variable under this folder (NodeId or browse path): it is browsed at every connect, down to `depth` levels.',
        ),
      depth: z
        .number()
        .int()
        .min(1)
        .max(20)
        .default(3)
        .describe('With `folder`: how many levels below the folder to browse.'),
      include: z
        .array(z.string().min(1))
        .optional()
        .describe(
          'With `folder`: keep only variables whose path below the folder matches one of these patterns (`*` any text within a level, `**` any levels): `Line*/Temp*`.',
        ),
      exclude: z
        .array(z.string().min(1))
        .optional()
        .describe(
          'With `folder`: leave out variables whose path below the folder matches one of these patterns.',
        ),
      name: z
        .string()
        .min(1)
        .optional()
        .describe(
          'Name given to the node in messages (`payload.node`, `meta.opcua.name`). Default: the browse path from the Objects folder (also for a NodeId: `Plant/Line1/Temperature`, so equal display names in two folders do not collide; the NodeId itself for a node outside Objects). With `folder`: a prefix.',
        ),
      ...monitoringShape,
    })
    .superRefine((n, ctx) => {
      const given = [n.nodeId, n.browsePath, n.folder].filter((v) => v !== undefined).length;
      if (given !== 1)
        ctx.addIssue({ code: 'custom', message: 'give exactly one of nodeId, browsePath or folder' });
      if (n.folder === undefined && (n.include || n.exclude))
        ctx.addIssue({ code: 'custom', message: 'include and exclude apply to folder nodes only' });
    }),
);

export const nodeSpec = lazySchema(() => z.union([builtSchema(nodeIdText), builtSchema(nodeObject)]));

/** Connection settings shared by the source and the sink. */
export const connectionShape = lazySchema(() => ({
  url: z
    .string()
    .regex(/^opc\.tcp:\/\/[^/\s:]+(?::\d+)?(?:\/.*)?$/, 'expected an endpoint URL such as opc.tcp://plc:4840')
    .describe('Endpoint URL of the OPC UA server: `opc.tcp://host:4840/path`.'),
  securityMode: z
    .enum(['None', 'Sign', 'SignAndEncrypt'])
    .default('None')
    .describe(
      'Message security: None (no signature, no encryption), Sign, or SignAndEncrypt (recommended on any network that is not fully trusted).',
    ),
  securityPolicy: z
    .string()
    .optional()
    .superRefine((p, ctx) => {
      if (p === undefined) return;
      if (DEPRECATED_POLICIES.includes(p))
        ctx.addIssue({
          code: 'custom',
          message: `${p} is deprecated (SHA-1, RSA PKCS#1 v1.5) and disabled in Node 20: configure the server for Basic256Sha256, Aes128_Sha256_RsaOaep or Aes256_Sha256_RsaPss`,
        });
      else if (!SECURITY_POLICIES.includes(p))
        ctx.addIssue({
          code: 'custom',
          message: `unknown security policy "${p}": expected one of ${SECURITY_POLICIES.join(', ')}`,
        });
    })
    .describe(
      'Security policy: Basic256Sha256, Aes128_Sha256_RsaOaep, Aes256_Sha256_RsaPss, or None. Default: None with securityMode None, Basic256Sha256 otherwise. Basic128Rsa15 and Basic256 are refused.',
    ),
  username: z.string().min(1).optional().describe('User name, for a user name and password identity.'),
  password: secret('Password of `username`.').optional(),
  userCertificate: z
    .string()
    .optional()
    .describe('Path of a PEM or DER user certificate, for an X.509 user identity (with `userPrivateKey`).'),
  userPrivateKey: z.string().optional().describe('Path of the PEM private key of `userCertificate`.'),
  pkiFolder: z
    .string()
    .optional()
    .describe(
      "Folder of the client's certificate store: own/ (passerelle's certificate, created on first use), trusted/, rejected/ (unknown server certificates land here), issuers/. Default: $XDG_CONFIG_HOME/passerelle/opcua-pki/<applicationName> (~/.config/...).",
    ),
  trustedServerCertificates: z
    .array(z.string())
    .default([])
    .describe(
      'Server certificates to trust, as paths of PEM or DER files, added to the trusted store at connect. In Sign/SignAndEncrypt the secure channel is then opened directly with this certificate, without reading the endpoints over a None channel (needed for servers that offer no None channel at all). Another way: move the file from rejected/ to trusted/certs/ in the PKI folder.',
    ),
  trustedServerFingerprints: z
    .array(
      z
        .string()
        .regex(
          /^(?:[0-9a-fA-F]{2}:?){19}[0-9a-fA-F]{2}$/,
          'expected a SHA-1 fingerprint: 40 hex digits, colons allowed',
        ),
    )
    .default([])
    .describe(
      'SHA-1 fingerprints (thumbprints) of server certificates to trust, as printed by `openssl x509 -fingerprint` or the server. Any other certificate is refused unless it is in trusted/.',
    ),
  applicationName: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash and underscore only')
    .default('passerelle')
    .describe(
      'Application name: the application URI is urn:<host>:<applicationName>, and the certificate is made for it. Give each client identity its own name and PKI folder.',
    ),
  connectTimeout: duration('How long one connection attempt (channel and session) may take.').prefault('10s'),
  reconnectDelay: duration(
    'Delay before the first reconnection attempt; it doubles on each failure, with jitter. Also applies to the first connection after its first failure.',
  ).prefault('1s'),
  reconnectMaxDelay: duration(
    'Longest delay between two connection attempts, the first connection included. Reconnection never gives up.',
  ).prefault('30s'),
  sessionTimeout: duration('Session timeout asked of the server.').prefault('60s'),
}));

type ConnectionFields = {
  securityMode: string;
  securityPolicy?: string | undefined;
  username?: string | undefined;
  password?: string | undefined;
  userCertificate?: string | undefined;
  userPrivateKey?: string | undefined;
};

/**
 * With securityMode None the password is encrypted to the server certificate given in the endpoint
 * list, which comes over a channel nobody signed: a machine in between can offer its own.
 */
export function connectionWarnings(c: ConnectionFields): ConfigWarning[] {
  if (c.securityMode !== 'None' || c.password === undefined) return [];
  return [
    {
      path: ['password'],
      message:
        'securityMode None: the password is encrypted to a server certificate received over an unauthenticated channel, so anyone in between can read it; use securityMode SignAndEncrypt with trustedServerFingerprints',
    },
  ];
}

export function checkConnection(c: ConnectionFields, ctx: z.RefinementCtx): void {
  if (c.securityMode === 'None' && c.securityPolicy !== undefined && c.securityPolicy !== 'None')
    ctx.addIssue({
      code: 'custom',
      path: ['securityPolicy'],
      message: `securityPolicy ${c.securityPolicy} needs securityMode Sign or SignAndEncrypt`,
    });
  if (c.securityMode !== 'None' && c.securityPolicy === 'None')
    ctx.addIssue({
      code: 'custom',
      path: ['securityPolicy'],
      message: `securityMode ${c.securityMode} needs a security policy other than None`,
    });
  if ((c.username === undefined) !== (c.password === undefined))
    ctx.addIssue({
      code: 'custom',
      path: [c.username === undefined ? 'username' : 'password'],
      message: 'username and password go together',
    });
  if ((c.userCertificate === undefined) !== (c.userPrivateKey === undefined))
    ctx.addIssue({
      code: 'custom',
      path: [c.userCertificate === undefined ? 'userCertificate' : 'userPrivateKey'],
      message: 'userCertificate and userPrivateKey go together',
    });
  if (c.username !== undefined && c.userCertificate !== undefined)
    ctx.addIssue({
      code: 'custom',
      path: ['userCertificate'],
      message: 'choose one user identity: username/password or userCertificate/userPrivateKey',
    });
}

export const opcuaSourceConfig = lazySchema(() =>
  z
    .strictObject({
      ...connectionShape,
      nodes: z
        .array(builtSchema(nodeSpec))
        .min(1)
        .describe(
          'The nodes to read: NodeId strings, or objects with one of nodeId, browsePath or folder, and per-node settings (name, samplingInterval, queueSize, deadband, trigger).',
        ),
      mode: z
        .enum(['subscription', 'poll'])
        .default('subscription')
        .describe(
          'subscription: the server reports changes (monitored items); poll: read every node each pollInterval, for servers or nodes where subscriptions are not wanted.',
        ),
      publishingInterval: duration(
        'Subscription: how often the server sends the changes it collected.',
      ).prefault('1s'),
      pollInterval: duration('Poll mode: how often every node is read.').prefault('1s'),
      ...monitoringShape,
      badQuality: z
        .enum(['forward', 'drop'])
        .default('forward')
        .describe(
          'Values with a Bad status: forward them (flagged with quality "bad") or drop them (counted as dropped).',
        ),
      uncertainQuality: z
        .enum(['forward', 'drop'])
        .default('forward')
        .describe('Values with an Uncertain status: forward them (flagged) or drop them (counted).'),
      watchdog: duration(
        'Reconnect when neither data nor a keep-alive arrived for this long. Keep-alives are asked for at a third of it.',
      ).prefault('30s'),
      nodeMetrics: z
        .union([z.boolean(), z.number().int().positive().max(100_000)])
        .default(false)
        .describe(
          'Export the time of the last value of each node (one metric series per node). Off by default: 5,000 nodes make 5,000 series. `true` exports it for at most 1,000 nodes, a number for at most that many (the first nodes to send a value).',
        ),
      publishTime: z
        .boolean()
        .default(false)
        .describe(
          "Subscription: add `opcua.publishTime` to each message's meta: when the server sent the notification that carried the value (its publishTime, ISO 8601). Minus the source timestamp, it is the wait in the server (sampling and publishing interval); a sink's arrival time minus it, the time after the server sent it (network, passerelle, sinks). Off by default: one more meta key per value.",
        ),
      maxQueuedValues: z
        .number()
        .int()
        .positive()
        .default(50_000)
        .describe(
          'Values (data changes or poll results) received and not yet stored, at most. OPC UA can not be paused: past it, new values are dropped and counted. Formerly maxInFlight.',
        ),
      batchSize: deliveryBatchSize(1000),
    })
    .superRefine((config, ctx) => {
      checkConnection(config, ctx);
      if (config.watchdog < 1000)
        ctx.addIssue({ code: 'custom', path: ['watchdog'], message: 'the watchdog is at least 1s' });
      if (config.mode === 'subscription' && config.watchdog < config.publishingInterval * 3)
        ctx.addIssue({
          code: 'custom',
          path: ['watchdog'],
          message: `the watchdog must be at least 3 publishing intervals (${config.publishingInterval * 3} ms)`,
        });
      if (config.mode === 'poll' && config.watchdog < config.pollInterval * 2)
        ctx.addIssue({
          code: 'custom',
          path: ['watchdog'],
          message: `the watchdog must be at least 2 poll intervals (${config.pollInterval * 2} ms)`,
        });
    })
    .describe('Reads OPC UA variables by subscription or polling.'),
);

export type OpcuaSourceConfig = z.output<typeof opcuaSourceConfig>;
export type OpcuaConnectionConfig = Pick<
  OpcuaSourceConfig,
  | 'url'
  | 'securityMode'
  | 'securityPolicy'
  | 'username'
  | 'password'
  | 'userCertificate'
  | 'userPrivateKey'
  | 'pkiFolder'
  | 'trustedServerCertificates'
  | 'trustedServerFingerprints'
  | 'applicationName'
  | 'connectTimeout'
  | 'reconnectDelay'
  | 'reconnectMaxDelay'
  | 'sessionTimeout'
>;
export type NodeSpec = z.output<typeof nodeSpec>;
export type MonitoringSettings = Pick<
  OpcuaSourceConfig,
  'samplingInterval' | 'queueSize' | 'deadband' | 'trigger'
>;

export const opcuaSourceSpec: SourceSpec<typeof opcuaSourceConfig> = {
  kind: 'source',
  renamed: { maxInFlight: 'maxQueuedValues' },
  type: 'opcua',
  title: 'OPC UA client',
  summary:
    'Reads OPC UA variables by subscription (data changes) or polling, with security, user identity and automatic recovery; one message per value.',
  get config() {
    return builtSchema(opcuaSourceConfig);
  },
  // Streams (subscription or poll), or (scheduled pipelines) one Read of the nodes per tick.
  readModes: ['stream', 'tick'],
  examples: [
    {
      url: 'opc.tcp://plc:4840',
      nodes: ['ns=2;s=Line1.Temperature', 'nsu=urn:plant;s=Line1.Pressure'],
    },
    {
      url: 'opc.tcp://plc:4840',
      securityMode: 'SignAndEncrypt',
      securityPolicy: 'Basic256Sha256',
      username: 'bridge',
      password: '${env:OPCUA_PASSWORD}',
      trustedServerFingerprints: ['3A:5F:0C:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11'],
      nodes: [
        { folder: 'Plant/Line1', depth: 2, exclude: ['*Alarm*'] },
        { browsePath: 'Plant/Line1/TankLevel', deadband: { type: 'percent', value: 2 } },
      ],
      publishingInterval: '500ms',
    },
    { url: 'opc.tcp://gateway:4840', mode: 'poll', pollInterval: '10s', nodes: ['ns=3;i=1001'] },
  ],
  // Data changes can not be held back on the server: what is in flight when the service stops is lost.
  delivery: () => 'best-effort',
  // One session per server and pipeline: two replicas would read everything twice.
  singleReader: () => true,
  warnings: connectionWarnings,
  load: async () => (await import('./index.js')).opcuaSource,
};
