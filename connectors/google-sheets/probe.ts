import { connect as tcpConnect } from 'node:net';
import type { SinkHealth } from './health.js';

/**
 * A TCP connection to the API host every `interval` ms (no API quota): readiness follows an outage
 * even while the sink is idle. Returns the function that stops it.
 */
export function startProbe(rootUrl: string, interval: number, health: SinkHealth): () => void {
  const url = new URL(rootUrl);
  const host = url.hostname;
  const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
  const probe = (): void => {
    const socket = tcpConnect({ host, port, timeout: 5_000 });
    socket.once('connect', () => {
      socket.destroy();
      health.markReachable();
    });
    const fail = (error?: Error): void => {
      socket.destroy();
      health.markUnreachable(error ?? new Error(`no TCP connection to ${host}:${port}`));
    };
    socket.once('timeout', () => fail());
    socket.once('error', fail);
  };
  const timer = setInterval(probe, interval);
  timer.unref();
  return () => clearInterval(timer);
}
