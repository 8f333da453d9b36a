// One bit per TCP port (65,536 bits = 8 KiB): which remote source ports of one remote IP are
// connected to one local address right now. A 4-tuple is unique, so set-on-accept /
// clear-on-close is exact, and comparing the bitmaps of two local addresses shows the same
// source port in use toward both at once (the article's proof that NAT is not a 64k wall).

export const PORT_BITMAP_BYTES = 8192;

export type PortBitmap = Uint8Array;

export function newPortBitmap(): PortBitmap {
  return new Uint8Array(PORT_BITMAP_BYTES);
}

export function setPort(bits: PortBitmap, port: number): void {
  bits[port >>> 3]! |= 1 << (port & 7);
}

export function clearPort(bits: PortBitmap, port: number): void {
  bits[port >>> 3]! &= ~(1 << (port & 7));
}

export function hasPort(bits: PortBitmap, port: number): boolean {
  return (bits[port >>> 3]! & (1 << (port & 7))) !== 0;
}

const POPCOUNT = new Uint8Array(256);
for (let i = 1; i < 256; i++) POPCOUNT[i] = (i & 1) + POPCOUNT[i >>> 1]!;

export function countPorts(bits: PortBitmap): number {
  let n = 0;
  for (let i = 0; i < bits.length; i++) n += POPCOUNT[bits[i]!]!;
  return n;
}

/** The lowest `limit` ports set, ascending. */
export function firstPorts(bits: PortBitmap, limit: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < bits.length && out.length < limit; i++) {
    const byte = bits[i]!;
    if (byte === 0) continue;
    for (let b = 0; b < 8 && out.length < limit; b++) if (byte & (1 << b)) out.push(i * 8 + b);
  }
  return out;
}

/** ORs `src` into `dst` (merging workers: each 4-tuple lives in exactly one worker). */
export function orInto(dst: PortBitmap, src: PortBitmap): void {
  for (let i = 0; i < dst.length; i++) dst[i]! |= src[i]!;
}

export interface SharedPorts {
  count: number;
  example?: { port: number; localAddresses: string[] };
}

/**
 * Ports set in at least two of the given bitmaps (one per local address, same remote IP),
 * with the lowest such port as an example and the local addresses it is connected to.
 */
export function sharedPorts(byLocal: ReadonlyArray<{ local: string; bits: PortBitmap }>): SharedPorts {
  let count = 0;
  let exampleByte = -1;
  let exampleMask = 0;
  if (byLocal.length >= 2) {
    for (let i = 0; i < PORT_BITMAP_BYTES; i++) {
      // seen1: bit set in some bitmap so far; seen2: set in two or more.
      let seen1 = 0;
      let seen2 = 0;
      for (const { bits } of byLocal) {
        const byte = bits[i]!;
        seen2 |= seen1 & byte;
        seen1 |= byte;
      }
      if (seen2 === 0) continue;
      count += POPCOUNT[seen2]!;
      if (exampleByte < 0) {
        exampleByte = i;
        exampleMask = seen2;
      }
    }
  }
  if (count === 0) return { count };
  let bit = 0;
  while ((exampleMask & (1 << bit)) === 0) bit++;
  const port = exampleByte * 8 + bit;
  const localAddresses = byLocal.filter(({ bits }) => hasPort(bits, port)).map(({ local }) => local);
  return { count, example: { port, localAddresses } };
}
