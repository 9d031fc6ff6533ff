/**
 * How Pigeon shows things to people, as the reference does: shortened ids
 * and sizes, shared by commands, log messages and progress bars.
 */

/** A packet or node id (52 Base32 characters) shortened to `first16..last16`; shorter names as they are. */
export function shortId(id: string): string {
  return id.length >= 52 ? `${id.slice(0, 16)}..${id.slice(-16)}` : id;
}

const IEC = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];

/** Go's "%.Nf" for a non-negative value: exact halves round to even, as strconv does. */
function goFixed(v: number, digits: number): string {
  const scaled = v * 10 ** digits;
  const floor = Math.floor(scaled);
  if (scaled - floor === 0.5 && Number.isInteger(floor)) {
    const n = floor % 2 === 0 ? floor : floor + 1;
    return (n / 10 ** digits).toFixed(digits);
  }
  return v.toFixed(digits);
}

/** Size as the reference prints it (go-humanize IBytes): "282 B", "5.1 KiB", "13 MiB". */
export function iBytes(size: number | bigint): string {
  const s = Number(size);
  if (s < 10) return `${s} B`;
  const e = Math.floor(Math.log(s) / Math.log(1024));
  const val = Math.floor((s / 1024 ** e) * 10 + 0.5) / 10;
  return `${val < 10 ? goFixed(val, 1) : goFixed(val, 0)} ${IEC[e]}`;
}
