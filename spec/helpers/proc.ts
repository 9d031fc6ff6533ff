/**
 * Looking into running processes through /proc (Linux): children of a
 * process, and a process's readable memory (as root), for the privilege
 * separation tests that check which keys a network child holds.
 */
import fs from 'node:fs';

/** Processes whose parent is `pid`. */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Every readable mapping of process `pid` (as root: /proc/PID/mem). */
export function memoryOf(pid: number): Buffer[] {
  const out: Buffer[] = [];
  const fd = fs.openSync(`/proc/${pid}/mem`, 'r');
  try {
    for (const line of fs.readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')) {
      const m = /^([0-9a-f]+)-([0-9a-f]+) r/.exec(line);
      if (!m || /\.(so|node)(\.\d+)*$|\/node$|\[vvar\]|\[vsyscall\]/.test(line)) continue;
      const from = parseInt(m[1], 16);
      const len = parseInt(m[2], 16) - from;
      const b = Buffer.alloc(len);
      try {
        fs.readSync(fd, b, 0, len, from);
        out.push(b);
      } catch {
        // a guard page or a mapping gone meanwhile
      }
    }
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

export const found = (mem: Buffer[], needle: Uint8Array | string): boolean => mem.some((b) => b.includes(typeof needle === 'string' ? needle : Buffer.from(needle)));

