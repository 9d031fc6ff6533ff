/**
 * Named kill points: a test hook for crash consistency. When the
 * environment variable PIGEON_KILLPOINT names a point (e.g.
 * `toss-file-placed`), the process SIGKILLs itself the first time it gets
 * there, as a power cut or `kill -9` would stop it. Unset (always, outside
 * tests), a point costs one environment lookup. The points are listed in
 * README (Crash consistency).
 */
export function killPoint(name: string): void {
  const want = process.env.PIGEON_KILLPOINT;
  if (want === undefined || want !== name) return;
  process.kill(process.pid, 'SIGKILL');
}
