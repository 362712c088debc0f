// Preloaded by `scripts/idle-rss.js --breakdown` (node --import): on SIGUSR2 the process writes
// its memory figures to $PASSERELLE_MEMORY_PROBE_OUT: process.memoryUsage(), V8's heap spaces and
// the CommonJS modules it loaded, by package (ES modules are not in require.cache), then the heap in
// use after a full garbage collection (`liveHeapMb`: steadier than the heap used at a random moment,
// which holds whatever garbage the last collection left).
import fs from 'node:fs';
import { createRequire } from 'node:module';
import v8 from 'node:v8';
import vm from 'node:vm';

const { cache } = createRequire(import.meta.url);

const mb = (bytes) => Math.round(bytes / 1e5) / 10;

process.on('SIGUSR2', () => {
  const usage = Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, mb(v)]));
  const spaces = v8.getHeapSpaceStatistics().map((s) => ({
    space: s.space_name,
    sizeMb: mb(s.space_size),
    usedMb: mb(s.space_used_size),
    physicalMb: mb(s.physical_space_size),
  }));
  const packages = {};
  for (const file of Object.keys(cache)) {
    const name = /.*node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file)?.[1] ?? '(not a package)';
    const entry = (packages[name] ??= { files: 0, sourceKb: 0 });
    entry.files += 1;
    try {
      entry.sourceKb += Math.round(fs.statSync(file).size / 1024);
    } catch {
      /* gone */
    }
  }
  v8.setFlagsFromString('--expose-gc');
  vm.runInNewContext('gc')();
  const liveHeapMb = mb(process.memoryUsage().heapUsed);
  const out = process.env.PASSERELLE_MEMORY_PROBE_OUT;
  // After the GC, so that the snapshot holds what the process retains (scripts/heap-summary.js reads it).
  const snapshot = process.env.PASSERELLE_MEMORY_PROBE_SNAPSHOT;
  if (snapshot) v8.writeHeapSnapshot(snapshot);
  if (out) fs.writeFileSync(out, JSON.stringify({ usage, spaces, packages, liveHeapMb }));
});
