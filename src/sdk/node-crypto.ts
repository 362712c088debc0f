import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
let crypto: typeof import('node:crypto') | undefined;

/**
 * node:crypto, required on first use. Importing it loads Node's crypto modules at start (~0.8 MB of
 * idle RSS, docs/architecture.md "Specs, implementations and idle memory"), which a relay needs only
 * for what happens later, if ever: a dead letter's id, a lease, a reload's fingerprint, an HTTP
 * error id, a console token check.
 */
export function nodeCrypto(): typeof import('node:crypto') {
  return (crypto ??= require('node:crypto') as typeof import('node:crypto'));
}

/**
 * `bytes` random bytes as hex, for names that must not collide (an MQTT client id, the prefix of
 * message ids), never for secrets: from Math.random, which V8 seeds per process from Node's
 * entropy source (OpenSSL's), as mqtt.js makes its own client ids. Start-up then needs no
 * node:crypto ({@link nodeCrypto}).
 */
export function uniqueHex(bytes: number): string {
  let hex = '';
  for (let i = 0; i < bytes; i++)
    hex += Math.floor(Math.random() * 256)
      .toString(16)
      .padStart(2, '0');
  return hex;
}
