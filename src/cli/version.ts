import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface PackageJson {
  name?: string;
  version?: string;
}

/** passerelle's package.json and its folder, found by walking up from this file (src/ or dist/src/). */
function findPackage(): { dir: string; pkg: PackageJson } | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
      if (pkg.name === 'passerelle') return { dir, pkg };
    } catch {
      // not here: keep walking up
    }
    dir = dirname(dir);
  }
  return undefined;
}

export function packageVersion(): string {
  return findPackage()?.pkg.version ?? '0.0.0';
}

/** The project folder (where package.json is). */
export function projectRoot(): string {
  const found = findPackage();
  if (!found) throw new Error('cannot find the passerelle package folder');
  return found.dir;
}
