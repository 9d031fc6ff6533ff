/**
 * Named kill points for crash tests: `killpoint("xfer-tx-renamed")` makes
 * the process SIGKILL itself there when PIGEON_KILLPOINT names that point
 * (read once, when this module is loaded), so a test can stop a command at
 * an exact step and check what the next run makes of it. Unset (always, in
 * use) a kill point costs one comparison and does nothing.
 */

const POINT = process.env.PIGEON_KILLPOINT ?? '';

/** Die at once, as kill -9 would, when PIGEON_KILLPOINT is `name`. */
export function killpoint(name: string): void {
  if (POINT !== '' && POINT === name) process.kill(process.pid, 'SIGKILL');
}
