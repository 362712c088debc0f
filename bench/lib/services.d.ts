// Types of services.js, for test/bench/services.test.ts.
import type { ServiceProcess } from '../../test/harness/services.ts';
export function freePort(): Promise<number>;
export function startMosquitto(
  parentDir: string,
  options?: { defaults?: boolean },
): Promise<ServiceProcess & { wsPort?: number }>;
export function startRedis(parentDir: string): Promise<ServiceProcess>;
