/**
 * Configuration reload without a restart: on SIGHUP, and when a watched pipeline file or folder
 * changes (debounced). Kubernetes updates a mounted ConfigMap by swapping a `..data` symlink inside
 * the mounted folder, so folders are watched (for a file, its folder), never the files themselves.
 * An invalid new configuration is refused: the error is logged, counted, and the old pipelines run on.
 */
import { watch, statSync, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { Counter, Gauge, type Registry } from '../engine/prom-client.js';
import type { PipelinePlan } from '../engine/plan.js';
import { errorMessage, nodeCrypto, redact, type Logger } from '../sdk/index.js';

export interface ReloadSummary {
  unchanged: string[];
  changed: string[];
  added: string[];
  removed: string[];
}

/**
 * What identifies a pipeline's configuration: everything in its plan but the component definitions
 * (code, not config). Secrets resolved from ${env:}/${file:} are part of it, so a rotated secret
 * restarts the pipelines that use it; only the hash is kept.
 */
export function pipelineFingerprint(plan: PipelinePlan): string {
  const text = JSON.stringify(plan, (key, value: unknown) =>
    key === 'definition'
      ? undefined
      : value instanceof Uint8Array
        ? Buffer.from(value).toString('base64')
        : value,
  );
  return nodeCrypto().createHash('sha256').update(text).digest('hex');
}

export interface ConfigReloaderOptions {
  /** Pipeline files and folders, as given to `run`. */
  paths: string[];
  /** Reads and validates the pipelines; throws (a ConfigError) when the new configuration is invalid. */
  load(): Promise<PipelinePlan[]>;
  apply(plans: PipelinePlan[]): Promise<ReloadSummary>;
  logger: Logger;
  registry: Registry;
  /** Quiet time after the last file event before reloading (editors and kubelet write in steps). Default 500 ms. */
  debounceMs?: number;
  /** Watch the paths; without it only SIGHUP (and `reload()`) reloads. Default true. */
  watch?: boolean;
  /** Reload on SIGHUP. Default true. */
  sighup?: boolean;
  /** Told the result of every reload (the status page shows the last one). */
  onResult?(result: ReloadResult): void;
}

export type ReloadResult =
  { result: 'applied' | 'unchanged'; summary: ReloadSummary } | { result: 'refused'; error: string };

export class ConfigReloader {
  private watchers: FSWatcher[] = [];
  private debounce: NodeJS.Timeout | undefined;
  private rewatch: NodeJS.Timeout | undefined;
  private running: Promise<ReloadResult> | undefined;
  private again: string | undefined;
  private stopped = false;
  private readonly reloads: Counter<'result'>;
  private readonly lastOk: Gauge;
  /** When the configuration on disk became invalid (the first refused reload), until one is accepted. */
  private refusedSince: number | undefined;
  private readonly onSighup = (): void => void this.reload('SIGHUP');

  constructor(private readonly options: ConfigReloaderOptions) {
    const { registry } = options;
    this.reloads =
      (registry.getSingleMetric('passerelle_config_reloads_total') as Counter<'result'> | undefined) ??
      new Counter({
        name: 'passerelle_config_reloads_total',
        help: 'Configuration reloads, by result: applied (something changed), unchanged, refused (invalid; the old configuration runs on).',
        labelNames: ['result'],
        registers: [registry],
      });
    this.lastOk =
      (registry.getSingleMetric('passerelle_config_last_reload_ok') as Gauge | undefined) ??
      new Gauge({
        name: 'passerelle_config_last_reload_ok',
        help: '1 when the last configuration reload was applied or found nothing to change, 0 when it was refused.',
        registers: [registry],
      });
    for (const result of ['applied', 'unchanged', 'refused']) this.reloads.inc({ result }, 0);
    this.lastOk.set(1);
  }

  start(): void {
    if (this.options.sighup ?? true) process.on('SIGHUP', this.onSighup);
    if (this.options.watch ?? true) this.watchAll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    process.off('SIGHUP', this.onSighup);
    clearTimeout(this.debounce);
    clearTimeout(this.rewatch);
    for (const w of this.watchers.splice(0)) w.close();
    await this.running?.catch(() => undefined);
  }

  /** Reloads now (one at a time: a request during a reload runs once more after it). */
  reload(reason: string): Promise<ReloadResult> {
    if (this.running) {
      this.again = reason;
      return this.running;
    }
    this.running = this.reloadOnce(reason)
      .then((result) => {
        this.options.onResult?.(result);
        return result;
      })
      .finally(() => {
        this.running = undefined;
        const next = this.again;
        this.again = undefined;
        if (next && !this.stopped) void this.reload(next);
      });
    return this.running;
  }

  private async reloadOnce(reason: string): Promise<ReloadResult> {
    const { logger } = this.options;
    let plans: PipelinePlan[];
    try {
      plans = await this.options.load();
    } catch (error) {
      const message = redact(errorMessage(error));
      this.reloads.inc({ result: 'refused' });
      this.lastOk.set(0);
      this.refusedSince ??= Date.now();
      logger.error(
        { reason, err: message },
        'configuration reload refused: the new configuration is invalid; the running pipelines are kept',
      );
      return { result: 'refused', error: message };
    }
    const summary = await this.options.apply(plans);
    const changed = summary.changed.length + summary.added.length + summary.removed.length > 0;
    this.reloads.inc({ result: changed ? 'applied' : 'unchanged' });
    // An operator who fixed the file wants to hear it, even when the fix restores what runs.
    if (this.refusedSince !== undefined)
      logger.info(
        { reason, invalidForSeconds: Math.round((Date.now() - this.refusedSince) / 1000) },
        'configuration valid again',
      );
    this.refusedSince = undefined;
    this.lastOk.set(1);
    if (changed) logger.info({ reason, ...summary }, 'configuration reloaded');
    else logger.debug({ reason }, 'configuration reload: nothing changed');
    return { result: changed ? 'applied' : 'unchanged', summary };
  }

  private schedule(reason: string): void {
    if (this.stopped) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.reload(reason), this.options.debounceMs ?? 500);
  }

  /** Watches each folder once: a folder given, or the folder of a file given. */
  private watchAll(): void {
    for (const w of this.watchers.splice(0)) w.close();
    const folders = new Set<string>();
    for (const path of this.options.paths) {
      try {
        folders.add(statSync(path).isDirectory() ? path : dirname(path));
      } catch {
        folders.add(dirname(path)); // removed for now: watch where it would come back
      }
    }
    for (const folder of folders) {
      try {
        const watcher = watch(folder, { persistent: false }, () => this.schedule(`change in ${folder}`));
        watcher.on('error', (error) => this.watchFailed(folder, error));
        this.watchers.push(watcher);
      } catch (error) {
        this.watchFailed(folder, error);
      }
    }
  }

  /** A watched folder vanished or can not be watched: try again shortly, and reload then. */
  private watchFailed(folder: string, error: unknown): void {
    if (this.stopped) return;
    this.options.logger.warn(
      { folder, err: errorMessage(error) },
      'cannot watch the configuration; retrying',
    );
    clearTimeout(this.rewatch);
    this.rewatch = setTimeout(() => {
      this.watchAll();
      this.schedule(`watch of ${folder} restored`);
    }, 2_000);
  }
}
