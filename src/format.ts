/**
 * How Pigeon shows things to people: shortened ids and, later, other
 * human-facing renderings shared by commands, logs and progress bars.
 */

/** A packet or node id (52 Base32 characters) shortened to `first16..last16`; shorter names as they are. */
export function shortId(id: string): string {
  return id.length >= 52 ? `${id.slice(0, 16)}..${id.slice(-16)}` : id;
}
