import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** A CommonJS package loaded on use and dropped a while after its last use ({@link transientRequire}). */
export interface TransientModule<T> {
  /** The package, loaded if it is not; each call restarts the delay before it is dropped. */
  get(): T;
  /** Drops it now (tests; the timer does it otherwise). */
  release(): void;
  /** Whether it is loaded now (tests). */
  loaded(): boolean;
}

/**
 * For what only configs need (YAML parsing): `load` requires the package (with a require of its own,
 * given to it) when it is first used; `keepMs` after its last use, the modules that this load added
 * leave the require cache, with the links through which a module loaded later would keep them
 * reachable (a module's `parent` and `children`), so that V8 can free their code and sources. The
 * next use loads them again: a config reload (SIGHUP, a watched file) works as the first load.
 * Modules already in the cache before the load (another user's) are neither counted nor dropped.
 * The timer never keeps the process alive. `onRelease` drops what the caller derived from the package.
 */
export function transientRequire<T>(
  load: (require: NodeJS.Require) => T,
  keepMs: number,
  onRelease?: () => void,
): TransientModule<T> {
  let current: { value: T; modules: string[] } | undefined;
  let timer: NodeJS.Timeout | undefined;
  const release = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (!current) return;
    for (const key of current.modules) {
      const module = require.cache[key];
      delete require.cache[key];
      if (module) {
        module.children = [];
        module.parent = null;
      }
    }
    current = undefined;
    // What the caller derived from it (tables, caches) goes with it.
    onRelease?.();
  };
  return {
    get(): T {
      if (!current) {
        // A require of its own: its module records each child it loads, and must not outlive them.
        const own = createRequire(import.meta.url);
        const before = new Set(Object.keys(own.cache));
        const value = load(own);
        current = { value, modules: Object.keys(own.cache).filter((key) => !before.has(key)) };
      }
      if (timer) timer.refresh();
      else {
        timer = setTimeout(release, keepMs);
        timer.unref();
      }
      return current.value;
    },
    release,
    loaded: () => current !== undefined,
  };
}
