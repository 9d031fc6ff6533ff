/**
 * fspl's diagnostics on stderr, filtered by -l/--log-level (trace, debug,
 * info, warn, error; default info): "LEVEL fspl: message" lines.
 */
export const LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];

export interface FsplLog {
  at(level: Level, msg: string): void;
}

export function parseLevel(s: string): Level | null {
  const l = s.toLowerCase();
  return (LEVELS as readonly string[]).includes(l) ? (l as Level) : null;
}

/** A logger writing at `min` and above to `write` (stderr by default). */
export function makeLog(min: Level = 'info', write: (line: string) => void = (l) => process.stderr.write(l)): FsplLog {
  const floor = LEVELS.indexOf(min);
  return {
    at(level, msg) {
      if (LEVELS.indexOf(level) >= floor) write(`${level.toUpperCase().padStart(5)} fspl: ${msg}\n`);
    },
  };
}

