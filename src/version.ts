/** Pigeon's version, from the package manifest (dist/src/version.js → package.json). */
import { readFileSync } from 'node:fs';

let versionText: string | undefined;

/** "pigeon X.Y.Z". */
export function pigeonVersion(): string {
  if (versionText === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
      versionText = `pigeon ${pkg.version ?? 'unknown'}`;
    } catch {
      versionText = 'pigeon';
    }
  }
  return versionText;
}

export const WARRANTY = `Pigeon is free software under the MIT license (see LICENSE).
It is provided "as is", without warranty of any kind, express or implied,
including but not limited to the warranties of merchantability, fitness for
a particular purpose and noninfringement.`;
