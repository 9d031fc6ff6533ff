/**
 * Whether big per-packet buffers (the encryptor's and decryptor's 2 MiB
 * batch slots) are kept for the next packet. Off until enableBufferPool():
 * importing Pigeon keeps no memory, and each packet then allocates its own
 * buffers and drops them. The `pigeon` executable switches it on (a toss of
 * many packets then allocates nothing per packet, at the cost of ~17 MB held
 * for the life of the process); a library user doing the same may too.
 * Same bytes either way.
 */

let enabled = false;

/** Keep big per-packet buffers between packets, for the rest of the process. */
export function enableBufferPool(): void {
  enabled = true;
}

export function bufferPoolEnabled(): boolean {
  return enabled;
}
