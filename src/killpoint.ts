/**
 * Named kill points, a test hook for crash consistency: `killpoint(name)`
 * makes the process SIGKILL itself there when the environment variable
 * PIGEON_KILLPOINT names that point, as a power cut or `kill -9` would stop
 * it, so a test can stop a command at an exact step and check what the next
 * run makes of it. Unset (always, outside tests), a point costs one
 * environment lookup. The points are listed in README (Crash consistency).
 */

/** Die at once, as kill -9 would, when PIGEON_KILLPOINT is `name`. */
export function killpoint(name: string): void {
  const want = process.env.PIGEON_KILLPOINT;
  if (want !== undefined && want === name) process.kill(process.pid, 'SIGKILL');
}
