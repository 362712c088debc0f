import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeContext, waitFor } from '../../test/conformance/context.js';
import { byName, clientPki, collect, SERVER_PKI } from '../../test/e2e/opcua-support.js';
import type * as Opcua from 'node-opcua';
import { loadOpcua } from './connection.js';
import { OpcuaSource } from './source.js';
import { opcuaSourceConfig, type OpcuaSourceConfig } from './spec.js';
import { PLANT_NAMESPACE, startOpcuaSimulator, type RunningSimulator } from './simulator.js';
import type { OpcuaPayload } from './source.js';

/** One real node-opcua server (the plant simulator) with users, None and secure endpoints. */
let sim: RunningSimulator;
const USERS = { operator: 'correct horse battery staple' };
const P = `nsu=${PLANT_NAMESPACE};s=`;

function config(overrides: Record<string, unknown>): OpcuaSourceConfig {
  return opcuaSourceConfig.parse({
    url: sim.endpointUrl,
    username: 'operator',
    password: USERS.operator,
    pkiFolder: clientPki('source-test'),
    trustedServerFingerprints: [sim.certificateFingerprint],
    ...overrides,
  });
}

beforeAll(async () => {
  sim = await startOpcuaSimulator({ port: 0, pkiFolder: SERVER_PKI, users: USERS, interval: 200 });
});
afterAll(async () => {
  await sim?.close();
});

describe('opcua source against the plant simulator', () => {
  it('subscription over None: values, types without loss, status flags, timestamps and metadata', async () => {
    const ctx = createFakeContext();
    const source = new OpcuaSource(
      config({
        nodes: [
          `${P}Line1.Temperature`,
          { browsePath: 'Plant/Line1/PartsProduced' },
          { folder: 'Plant/Samples', depth: 1 },
        ],
        publishingInterval: '100ms',
        nodeMetrics: true,
      }),
      ctx,
    );
    await source.connect(AbortSignal.timeout(20_000));
    const started = Date.now();
    const messages = await collect(source, (ms) => {
      const names = new Set(ms.map((m) => m.meta['opcua.name']));
      return (
        names.size >= 13 && ms.filter((m) => m.meta['opcua.name'] === 'Plant/Line1/PartsProduced').length >= 2
      );
    });
    const got = byName(messages);
    const payload = (name: string): OpcuaPayload => got.get(name)?.payload as OpcuaPayload;
    expect(payload('Plant/Samples/Int64Max').value).toBe('9223372036854775807');
    expect(payload('Plant/Samples/Int64Max').dataType).toBe('Int64');
    expect(payload('Plant/Samples/UInt64Max').value).toBe('18446744073709551615');
    expect(payload('Plant/Samples/Int64Array').value).toEqual(['1', '-1']);
    expect(payload('Plant/Samples/Float').value).toBe(21.3);
    expect(payload('Plant/Samples/DateTime').value).toBe('2026-11-25T12:00:00.123Z');
    expect(payload('Plant/Samples/ByteString').value).toBe(
      Buffer.from([0, 1, 2, 254, 255]).toString('base64'),
    );
    expect(payload('Plant/Samples/LocalizedText').value).toEqual({ text: 'Four', locale: 'en-US' });
    expect(payload('Plant/Samples/DoubleArray').value).toEqual([1.5, 2.5, 3.5]);
    expect(payload('Plant/Samples/String').value).toBe('héllo "plant"');
    expect(payload('Plant/Samples/Guid').value).toBe('72962B91-FA75-4AE6-8D28-B404DC7DAF63');
    // Bad and uncertain values are passed on, flagged.
    expect(payload('Plant/Samples/Uncertain')).toMatchObject({
      quality: 'uncertain',
      status: 'UncertainLastUsableValue',
    });
    expect(payload('Plant/Samples/BadSensor')).toMatchObject({ quality: 'bad', status: 'BadSensorFailure' });
    expect(got.get('Plant/Samples/BadSensor')?.meta['opcua.quality']).toBe('bad');

    const temperature = got.get('Plant/Line1/Temperature')!;
    expect(temperature.meta['opcua.nodeId']).toBe(`nsu=${PLANT_NAMESPACE};s=Line1.Temperature`);
    expect(temperature.meta['opcua.displayName']).toBe('Temperature');
    const t = temperature.payload as OpcuaPayload;
    expect(typeof t.value).toBe('number');
    expect(t).toMatchObject({
      dataType: 'Double',
      quality: 'good',
      status: 'Good',
      node: 'Plant/Line1/Temperature',
    });
    expect(temperature.time).toBe(Date.parse(t.sourceTimestamp!));
    expect(temperature.time).toBeGreaterThan(started - 60_000);
    expect(Date.parse(t.serverTimestamp!)).toBeGreaterThan(0);
    expect(temperature.id).toBe(`nsu=${PLANT_NAMESPACE};s=Line1.Temperature@${temperature.time}`);

    const counts = messages
      .filter((m) => m.meta['opcua.name'] === 'Plant/Line1/PartsProduced')
      .map((m) => (m.payload as OpcuaPayload).value as number);
    expect(counts[1]).toBeGreaterThan(counts[0]!);
    expect(got.get('Plant/Line1/PartsProduced')?.meta['opcua.browsePath']).toBe('Plant/Line1/PartsProduced');
    await waitFor(
      async () =>
        (await ctx.registry.metrics()).includes(
          'passerelle_opcua_last_value_timestamp_seconds{node="Plant/Line1/Temperature"',
        ),
      'node metric',
    );
    await source.close();
    expect(ctx.state).toBe('stopped');
  });

  it('publishTime: each value carries the publishTime of the notification message that brought it', async () => {
    // What the server sent: the publish times of the responses holding each value, read as they
    // leave (after the simulator stamped them; node-opcua 2.182.2's server sends the null time).
    const sentIn = new Map<string, Set<string>>();
    const record = (message: Opcua.NotificationMessage): void => {
      for (const data of message.notificationData ?? [])
        for (const { value } of (data as Partial<Opcua.DataChangeNotification>).monitoredItems ?? []) {
          const key = `${value.sourceTimestamp?.toISOString()} ${String(value.value.value)}`;
          sentIn.set(key, (sentIn.get(key) ?? new Set()).add(message.publishTime!.toISOString()));
        }
    };
    const watch = (session: Opcua.ServerSession): void => {
      const engine = session.publishEngine as unknown as {
        _send_response(subscription: unknown, response: Opcua.PublishResponse): void;
      };
      const send = engine._send_response.bind(engine);
      engine._send_response = (subscription, response) => {
        send(subscription, response);
        if (response.notificationMessage) record(response.notificationMessage);
      };
    };
    sim.server.on('create_session', watch);
    try {
      const withTimes = new OpcuaSource(
        config({
          nodes: [`${P}Line1.Temperature`, `${P}Line2.Temperature`],
          publishingInterval: '100ms',
          publishTime: true,
        }),
        createFakeContext(),
      );
      const without = new OpcuaSource(
        config({ nodes: [`${P}Line1.Temperature`], publishingInterval: '100ms' }),
        createFakeContext(),
      );
      await withTimes.connect(AbortSignal.timeout(20_000));
      await without.connect(AbortSignal.timeout(20_000));
      const messages = await collect(withTimes, (ms) => ms.length >= 6);
      for (const m of messages) {
        const p = m.payload as OpcuaPayload;
        const sent = sentIn.get(`${p.sourceTimestamp} ${String(p.value)}`);
        expect(sent, `${m.id} was not sent by the server`).toBeDefined();
        expect([...sent!]).toContain(m.meta['opcua.publishTime']);
      }
      const plain = await collect(without, (ms) => ms.length >= 1);
      expect(Object.keys(plain[0]!.meta)).not.toContain('opcua.publishTime');
      await withTimes.close();
      await without.close();
    } finally {
      sim.server.off('create_session', watch);
    }
  });

  it('the delivery holding the last value of a publish ends a burst: quiet for the publishing interval', async () => {
    // The last value of each notification message the server sent, read as it leaves.
    const lastSent = new Set<string>();
    const keyOf = (sourceTimestamp: string | null | undefined, value: unknown): string =>
      `${sourceTimestamp} ${String(value)}`;
    const watch = (session: Opcua.ServerSession): void => {
      const engine = session.publishEngine as unknown as {
        _send_response(subscription: unknown, response: Opcua.PublishResponse): void;
      };
      const send = engine._send_response.bind(engine);
      engine._send_response = (subscription, response) => {
        send(subscription, response);
        const data = response.notificationMessage?.notificationData ?? [];
        const items = (data.at(-1) as Partial<Opcua.DataChangeNotification> | undefined)?.monitoredItems;
        const last = items?.at(-1)?.value;
        if (last) lastSent.add(keyOf(last.sourceTimestamp?.toISOString(), last.value.value));
      };
    };
    sim.server.on('create_session', watch);
    try {
      const source = new OpcuaSource(
        config({
          nodes: [`${P}Line1.Temperature`, `${P}Line1.Pressure`, `${P}Line2.Temperature`],
          publishingInterval: '100ms',
        }),
        createFakeContext(),
      );
      await source.connect(AbortSignal.timeout(20_000));
      const deliveries: { quietFor?: number; last: string }[] = [];
      const signal = AbortSignal.timeout(15_000);
      while (deliveries.length < 5) {
        const d = await source.read(signal);
        if (!d) throw new Error(`no delivery: got ${deliveries.length}`);
        const last = d.messages.at(-1)!.payload as OpcuaPayload;
        deliveries.push({ quietFor: d.quietFor, last: keyOf(last.sourceTimestamp, last.value) });
        d.ack();
      }
      // Read as they come, every delivery is one publish (or more, decoded in the same tick), whole.
      for (const d of deliveries) {
        expect(d.quietFor).toBe(100);
        expect(lastSent, `${d.last} ended no publish`).toContain(d.last);
      }
      await source.close();
    } finally {
      sim.server.off('create_session', watch);
    }
  });

  it('poll mode: the delivery that ends a poll is quiet until the next poll', async () => {
    const source = new OpcuaSource(
      config({ mode: 'poll', pollInterval: '200ms', nodes: [`${P}Line1.Pressure`, `${P}Setpoints.Mode`] }),
      createFakeContext(),
    );
    await source.connect(AbortSignal.timeout(20_000));
    const signal = AbortSignal.timeout(15_000);
    for (let i = 0; i < 3; i++) {
      const d = await source.read(signal);
      expect(d?.messages).toHaveLength(2);
      expect(d!.quietFor).toBeGreaterThanOrEqual(0);
      expect(d!.quietFor).toBeLessThanOrEqual(200);
      d!.ack();
    }
    await source.close();
  });

  it('poll mode over SignAndEncrypt / Basic256Sha256 with user name and password', async () => {
    const ctx = createFakeContext();
    const source = new OpcuaSource(
      config({
        securityMode: 'SignAndEncrypt',
        securityPolicy: 'Basic256Sha256',
        mode: 'poll',
        pollInterval: '200ms',
        nodes: [`${P}Line1.Pressure`, `${P}Setpoints.Mode`, `${P}Line1.EnergyWh`],
      }),
      ctx,
    );
    await source.connect(AbortSignal.timeout(20_000));
    const messages = await collect(
      source,
      (ms) => ms.filter((m) => m.meta['opcua.name'] === 'Plant/Setpoints/Mode').length >= 3,
    );
    const modes = messages.filter((m) => m.meta['opcua.name'] === 'Plant/Setpoints/Mode');
    // Polling reads every node each time, changed or not.
    expect(modes.map((m) => (m.payload as OpcuaPayload).value)).toEqual(['auto', 'auto', 'auto']);
    const energy = byName(messages).get('Plant/Line1/EnergyWh')!.payload as OpcuaPayload;
    expect(energy.dataType).toBe('Int64');
    expect(BigInt(energy.value as string)).toBeGreaterThan(2n ** 53n);
    await source.close();
  });

  it('refuses an untrusted server certificate with a readable error, and works once it is trusted by file', async () => {
    const pki = clientPki('untrusted-test');
    rmSync(pki, { recursive: true, force: true });
    const ctx = createFakeContext();
    const untrusted = new OpcuaSource(
      config({
        pkiFolder: pki,
        trustedServerFingerprints: [],
        securityMode: 'SignAndEncrypt',
        nodes: [`${P}Line1.Pressure`],
      }),
      ctx,
    );
    const error = await untrusted.connect(AbortSignal.timeout(20_000)).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toContain('server certificate');
    expect(error?.message).toContain(sim.certificateFingerprint);
    expect(error?.message).toContain('not trusted');
    // node-opcua put the refused certificate in rejected/: that is the file a user would move.
    const rejected = readdirSync(join(pki, 'rejected')).filter((f) => /\.(pem|der)$/.test(f));
    expect(rejected.length).toBeGreaterThan(0);
    await untrusted.close();

    const certFile = join(pki, 'rejected', rejected[0]!);
    expect(readFileSync(certFile).length).toBeGreaterThan(100);
    const trusted = new OpcuaSource(
      config({
        pkiFolder: pki,
        trustedServerFingerprints: [],
        trustedServerCertificates: [certFile],
        securityMode: 'SignAndEncrypt',
        nodes: [`${P}Line1.Pressure`],
      }),
      createFakeContext(),
    );
    await trusted.connect(AbortSignal.timeout(20_000));
    const messages = await collect(trusted, (ms) => ms.length >= 1);
    expect(messages[0]!.meta['opcua.name']).toBe('Plant/Line1/Pressure');
    await trusted.close();
  });

  it('an X.509 user identity (certificate and private key) opens a session', async () => {
    const lib = await loadOpcua();
    const folder = clientPki('x509-user');
    const certificateFile = join(folder, 'own', 'certs', 'operator.pem');
    if (!existsSync(certificateFile)) {
      const cm = new lib.OPCUACertificateManager({ rootFolder: folder });
      await cm.initialize();
      await cm.createSelfSignedCertificate({
        applicationUri: 'urn:passerelle-tests:operator',
        subject: '/CN=operator',
        dns: [],
        startDate: new Date(Date.now() - 86_400_000),
        validity: 3650,
        outputFile: certificateFile,
      });
      await cm.dispose();
    }
    const source = new OpcuaSource(
      config({
        username: undefined,
        password: undefined,
        securityMode: 'SignAndEncrypt',
        userCertificate: certificateFile,
        userPrivateKey: join(folder, 'own', 'private', 'private_key.pem'),
        nodes: [`${P}Line1.Pressure`],
      }),
      createFakeContext(),
    );
    await source.connect(AbortSignal.timeout(20_000));
    const messages = await collect(source, (ms) => ms.length >= 1);
    expect(messages[0]!.meta['opcua.name']).toBe('Plant/Line1/Pressure');
    // The server authenticated a certificate, not a user name (anonymous is refused by this server).
    const tokens = sim.server.engine.getSessions().map((s) => s.userIdentityToken?.constructor.name);
    expect(tokens).toContain('X509IdentityToken');
    await source.close();
  });

  it('a wrong password is refused with a readable error', async () => {
    const source = new OpcuaSource(
      config({ password: 'wrong', nodes: [`${P}Line1.Pressure`] }),
      createFakeContext(),
    );
    await expect(source.connect(AbortSignal.timeout(20_000))).rejects.toThrow(
      /refused user "operator".*BadUserAccessDenied/,
    );
    await source.close();
  });

  it('a percent deadband works on the AnalogItem and is refused clearly on a plain variable', async () => {
    const ctx = createFakeContext();
    const source = new OpcuaSource(
      config({
        publishingInterval: '100ms',
        nodes: [
          { nodeId: `${P}Line1.TankLevel`, deadband: { type: 'percent', value: 0.001 } },
          { nodeId: `${P}Line1.Pressure`, deadband: { type: 'percent', value: 1 } },
        ],
      }),
      ctx,
    );
    await source.connect(AbortSignal.timeout(20_000));
    const messages = await collect(source, (ms) => ms.length >= 2);
    expect(new Set(messages.map((m) => m.meta['opcua.name']))).toEqual(new Set(['Plant/Line1/TankLevel']));
    const errors = ctx.logs.filter((l) => l.level === 'error').map((l) => l.msg ?? '');
    expect(errors.join('\n')).toMatch(
      /Pressure: the server refused the percent deadband .*AnalogItem.*absolute/,
    );
    expect(await ctx.registry.metrics()).toMatch(/passerelle_opcua_node_errors\{[^}]*\} 1/);
    await source.close();
  });

  it('fails to connect, saying why, when no configured node exists', async () => {
    const source = new OpcuaSource(
      config({ nodes: [`${P}No.Such.Node`, { browsePath: 'Plant/Line9/Temperature' }] }),
      createFakeContext(),
    );
    const error = await source.connect(AbortSignal.timeout(20_000)).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(error?.message).toMatch(/No\.Such\.Node.*BadNodeIdUnknown/);
    expect(error?.message).toMatch(/no "Line9" under "Plant"/);
    await source.close();
  });
});
