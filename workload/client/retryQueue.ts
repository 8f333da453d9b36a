// Failed connects waiting to be retried: a min-heap on due time, and the capped exponential
// backoff that spaces them out (never a tight reconnect loop).

export const RETRY_BASE_MS = 250;
export const RETRY_CAP_MS = 30_000;

/** Delay before retry number `attempt` (1 = first retry): 250 ms doubling to 30 s, with jitter. */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  const exp = Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** Math.min(Math.max(attempt - 1, 0), 20));
  // Half fixed, half random: spreads a burst of failures without ever retrying immediately.
  return exp / 2 + (exp / 2) * random();
}

export interface RetryItem {
  due: number;
  attempt: number;
  target: number;
  /** Index of the source address last used (the retry moves on to the next). */
  source: number;
}

export class RetryQueue {
  private readonly heap: RetryItem[] = [];

  get size(): number {
    return this.heap.length;
  }

  push(item: RetryItem): void {
    const h = this.heap;
    h.push(item);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (h[parent]!.due <= h[i]!.due) break;
      [h[parent], h[i]] = [h[i]!, h[parent]!];
      i = parent;
    }
  }

  /** Removes and returns the earliest item if it is due at `now`. */
  popDue(now: number): RetryItem | undefined {
    const h = this.heap;
    const top = h[0];
    if (top === undefined || top.due > now) return undefined;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && h[l]!.due < h[m]!.due) m = l;
        if (r < h.length && h[r]!.due < h[m]!.due) m = r;
        if (m === i) break;
        [h[m], h[i]] = [h[i]!, h[m]!];
        i = m;
      }
    }
    return top;
  }
}
