import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createFakeContext } from '../../test/conformance/context.js';
import { clientPki, collect, SERVER_PKI, TEST_ROOT } from '../../test/e2e/opcua-support.js';
import { OpcuaSource } from './source.js';
import { opcuaSourceConfig } from './spec.js';
import { PLANT_NAMESPACE, startOpcuaSimulator, type RunningSimulator } from './simulator.js';

/**
 * A server that offers no None channel, not even to read its endpoints (open62541 built with
 * secure policies only, hardened PLCs): node-opcua's server refuses such a channel with
 * BadSecurityPolicyRejected when it has no None endpoint (`disableDiscovery`).
 */
let sim: RunningSimulator;
const P = `nsu=${PLANT_NAMESPACE};s=`;

beforeAll(async () => {
  sim = await startOpcuaSimulator({
    port: 0,
    pkiFolder: SERVER_PKI,
    secure: true,
    noDiscoveryChannel: true,
    interval: 200,
  });
});
afterAll(async () => {
  await sim?.close();
});

describe('opcua source against a secure-only server', () => {
  it('connects directly over SignAndEncrypt when the server certificate file is trusted', async () => {
    const certFile = join(TEST_ROOT, 'secure-only-server.der');
    writeFileSync(certFile, sim.certificate);
    const source = new OpcuaSource(
      opcuaSourceConfig.parse({
        url: sim.endpointUrl,
        securityMode: 'SignAndEncrypt',
        pkiFolder: clientPki('secure-only'),
        trustedServerCertificates: [certFile],
        nodes: [`${P}Line1.Pressure`],
      }),
      createFakeContext(),
    );
    try {
      await source.connect(AbortSignal.timeout(20_000));
      const messages = await collect(source, (ms) => ms.length >= 1);
      expect(typeof (messages[0]!.payload as { value: unknown }).value).toBe('number');
    } finally {
      await source.close();
    }
  });

  it('connects directly when only the fingerprint is configured and the certificate is in the PKI folder', async () => {
    const pki = clientPki('secure-only-fingerprint');
    // A first attempt (or the user) left the certificate in rejected/: the fingerprint picks it.
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(pki, 'rejected'), { recursive: true });
    writeFileSync(join(pki, 'rejected', 'server.der'), sim.certificate);
    const source = new OpcuaSource(
      opcuaSourceConfig.parse({
        url: sim.endpointUrl,
        securityMode: 'Sign',
        pkiFolder: pki,
        trustedServerFingerprints: [sim.certificateFingerprint],
        nodes: [`${P}Line1.Pressure`],
      }),
      createFakeContext(),
    );
    try {
      await source.connect(AbortSignal.timeout(20_000));
      await collect(source, (ms) => ms.length >= 1);
    } finally {
      await source.close();
    }
  });

  it("reports the server's refusal, not a premature disconnection", async () => {
    const certFile = join(TEST_ROOT, 'secure-only-server.der');
    writeFileSync(certFile, sim.certificate);
    // securityMode None on a server without None endpoints: the server answers BadSecurityPolicyRejected.
    const none = new OpcuaSource(
      opcuaSourceConfig.parse({
        url: sim.endpointUrl,
        pkiFolder: clientPki('secure-only'),
        nodes: [`${P}Line1.Pressure`],
      }),
      createFakeContext(),
    );
    const error = await none.connect(AbortSignal.timeout(20_000)).then(
      () => undefined,
      (e: Error) => e,
    );
    await none.close();
    expect(error?.message).toMatch(/BadSecurityPolicyRejected/);
    expect(error?.message).not.toMatch(/premature/);

    // Only a fingerprint, and the certificate nowhere: the None discovery is refused, and the
    // message says what to give instead.
    const unknown = new OpcuaSource(
      opcuaSourceConfig.parse({
        url: sim.endpointUrl,
        securityMode: 'SignAndEncrypt',
        pkiFolder: clientPki('secure-only-nocert'),
        trustedServerFingerprints: [sim.certificateFingerprint],
        nodes: [`${P}Line1.Pressure`],
      }),
      createFakeContext(),
    );
    const error2 = await unknown.connect(AbortSignal.timeout(20_000)).then(
      () => undefined,
      (e: Error) => e,
    );
    await unknown.close();
    expect(error2?.message).toMatch(/BadSecurityPolicyRejected/);
    expect(error2?.message).toMatch(/trustedServerCertificates/);
    expect(error2?.message).not.toMatch(/premature/);
  });

  it("reports the server's refusal of passerelle's certificate on a direct channel; node-opcua's output goes to the debug log", async () => {
    const strict = await startOpcuaSimulator({
      port: 0,
      pkiFolder: join(TEST_ROOT, 'secure-only-strict-server'),
      secure: true,
      noDiscoveryChannel: true,
      acceptUnknownClients: false,
    });
    const ctx = createFakeContext();
    try {
      const certFile = join(TEST_ROOT, 'secure-only-strict-server.der');
      writeFileSync(certFile, strict.certificate);
      const source = new OpcuaSource(
        opcuaSourceConfig.parse({
          url: strict.endpointUrl,
          securityMode: 'SignAndEncrypt',
          pkiFolder: clientPki('secure-only-strict'),
          trustedServerCertificates: [certFile],
          nodes: [`${P}Line1.Pressure`],
        }),
        ctx,
      );
      const stderr: string[] = [];
      const write = process.stderr.write.bind(process.stderr);
      process.stderr.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
        stderr.push(String(chunk));
        return write(chunk, ...rest);
      }) as typeof process.stderr.write;
      let error: Error | undefined;
      try {
        error = await source.connect(AbortSignal.timeout(20_000)).then(
          () => undefined,
          (e: Error) => e,
        );
      } finally {
        process.stderr.write = write;
      }
      await source.close();
      // The refusal made node-opcua talk (the server's "sendError", certificate dumps): all of it
      // is in the log at debug level, none on stderr.
      expect(stderr.filter((l) => l.includes('node-opcua'))).toEqual([]);
      const debug = ctx.logs.filter((l) => l.level === 'debug' && String(l.msg).startsWith('node-opcua: '));
      expect(debug.length).toBeGreaterThan(0);
      expect(ctx.logs.filter((l) => l.level !== 'debug' && String(l.msg).startsWith('node-opcua'))).toEqual(
        [],
      );
      expect(error?.message).toMatch(/refused/);
      expect(error?.message).toMatch(/BadSecurityChecksFailed|BadCertificateUntrusted/);
      expect(error?.message).toMatch(/trust it on the server/);
      expect(error?.message).not.toMatch(/premature/);
    } finally {
      await strict.close();
    }
  });
});
