// The machine a bench ran on, for the Conditions line of its section.
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';

export function machineConditions() {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const m = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m);
    if (m) cpuModel = m[1];
  } catch {
    /* keep os.cpus() */
  }
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    cores: cpus().length,
    cpuModel,
    ramGiB: totalmem() / 2 ** 30,
    node: process.version,
    loadStart: loadavg(),
  };
}
