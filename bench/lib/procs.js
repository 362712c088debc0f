// Child-process bookkeeping and /proc readings. Every process the bench starts is tracked here
// and killed on exit, on Ctrl-C, on SIGTERM and on an uncaught error; temp folders are removed.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';

const children = new Set();
const tempDirs = new Set();
let ticks = 100;
try {
  ticks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
} catch {
  /* keep the usual 100 */
}

export function track(child, label) {
  child.benchLabel = label;
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function trackTempDir(dir) {
  tempDirs.add(dir);
  return dir;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export function stopChild(child, graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export function killAllSync() {
  for (const child of children) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  children.clear();
  if (process.env.BENCH_KEEP_TMP) return;
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

let installed = false;
export function installCleanup() {
  if (installed) return;
  installed = true;
  process.on('exit', killAllSync);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
      console.error(`\nbench: ${sig}, stopping every process it started`);
      killAllSync();
      process.exit(130);
    });
  }
  process.on('uncaughtException', (err) => {
    console.error('bench: uncaught error:', err);
    killAllSync();
    process.exit(1);
  });
  process.on('unhandledRejection', (err) => {
    console.error('bench: unhandled rejection:', err);
    killAllSync();
    process.exit(1);
  });
}

function readStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // rest[0] is field 3 (state): ppid 4, utime 14, stime 15, cutime 16, cstime 17.
    return {
      ppid: Number(rest[1]),
      utime: Number(rest[11]),
      stime: Number(rest[12]),
      cutime: Number(rest[13]),
      cstime: Number(rest[14]),
    };
  } catch {
    return null;
  }
}

/** The process and all its live descendants. */
export function processTree(rootPid) {
  const byParent = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(name);
    if (!st) continue;
    const list = byParent.get(st.ppid) ?? [];
    list.push(Number(name));
    byParent.set(st.ppid, list);
  }
  const out = [rootPid];
  for (let i = 0; i < out.length; i++) out.push(...(byParent.get(out[i]) ?? []));
  return out;
}

/**
 * CPU seconds (user + system) of a process and its children: live descendants read one by one,
 * plus the reaped children's time that the kernel adds to the parent (cutime + cstime).
 */
export function treeCpuSeconds(rootPid) {
  let t = 0;
  for (const pid of processTree(rootPid)) {
    const st = readStat(pid);
    if (!st) continue;
    t += st.utime + st.stime + st.cutime + st.cstime;
  }
  return t / ticks;
}

function statusKb(pid, key) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Sum of one /proc/<pid>/status field (VmRSS, RssAnon...) over the tree, in kB. */
export function treeStatusKb(rootPid, key) {
  return processTree(rootPid).reduce((sum, pid) => sum + statusKb(pid, key), 0);
}

/** Sum of VmRSS over the tree, in kB. */
export function treeRssKb(rootPid) {
  return treeStatusKb(rootPid, 'VmRSS');
}

/** The process's own high-water mark of resident memory (VmHWM), in kB. */
export function hwmKb(pid) {
  return statusKb(pid, 'VmHWM');
}

/** Samples the tree's RSS every `everyMs`; `stop()` returns the peak in kB. */
export function rssSampler(rootPid, everyMs = 250) {
  let peak = treeRssKb(rootPid);
  const timer = setInterval(() => {
    peak = Math.max(peak, treeRssKb(rootPid));
  }, everyMs);
  return {
    peekKb: () => peak,
    stop() {
      clearInterval(timer);
      peak = Math.max(peak, treeRssKb(rootPid));
      return peak;
    },
  };
}

/**
 * Process CPU seconds of the whole machine (all cores), from /proc/stat: user + nice + system.
 * Interrupt and softirq time (where much of the bench's own loopback traffic is accounted, charged
 * to no process) and steal are left out, so the foreign figure below errs on the low side.
 */
export function machineBusySeconds() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal (guest time is already in user)
    const busy = f[0] + f[1] + f[2];
    return busy / ticks;
  } catch {
    return NaN;
  }
}
