// Small reads over the observation series (pure).
import type { Observation } from "./types.js";

/** The last item that `pick` accepts. */
export function last<T>(items: T[], pick: (item: T) => boolean): T | undefined {
  for (let i = items.length - 1; i >= 0; i--) if (pick(items[i]!)) return items[i];
  return undefined;
}

/** Connections per second over the last `window` seconds of server samples. */
export function recentRate(observations: Observation[], window: number): number {
  const pts = observations.filter((o) => o.server !== null);
  const end = pts.at(-1);
  if (!end) return 0;
  const start = last(pts, (o) => o.t <= end.t - window) ?? pts[0]!;
  const dt = end.t - start.t;
  return dt > 0 ? Math.max(0, (end.server!.total - start.server!.total) / dt) : 0;
}
