/** Settings the environment overrides, read in one place with one grammar. */
import { ConfigError } from '../errors.js';

/** The reference's default I/O deadline, in seconds. */
export const DEFAULT_DEADLINE_S = 10;

/**
 * $NNCPDEADLINE in seconds (a whole number, optionally with a leading +,
 * as Go's strconv.Atoi reads it; negative values are refused), or
 * undefined when it is unset or empty.
 */
export function envDeadlineSeconds(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env.NNCPDEADLINE;
  if (v === undefined || v === '') return undefined;
  if (!/^[+]?\d+$/.test(v)) throw new ConfigError(`$NNCPDEADLINE: expected a whole number of seconds, got ${JSON.stringify(v)}`);
  return Number(v);
}
