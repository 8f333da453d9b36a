// Failed connects waiting to be retried: a min-heap on due time (backoff.ts spaces them out).

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

  /** When the earliest item is due; undefined when empty. */
  get nextDue(): number | undefined {
    return this.heap[0]?.due;
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
