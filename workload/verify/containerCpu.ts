// A client container's CPU time and CPU limit through the Docker API (GET /containers/{id}/stats
// with one-shot: the daemon reads the container's cgroup, v1 or v2, without waiting for a second
// sample). The headroom judgement (headroom.ts) turns two readings into a share.
import type Docker from "dockerode";

export interface ContainerCpu {
  /** CPU time the container used since it started, in seconds (its cgroup's usage). */
  usageSeconds: number;
  /** Its CPU limit in CPUs (--cpus, or quota / period), null when unlimited. */
  limitCpus: number | null;
}

interface HostConfigCpu {
  NanoCpus?: number;
  CpuQuota?: number;
  CpuPeriod?: number;
}

/** --cpus (NanoCpus), else CpuQuota / CpuPeriod; null when neither limits it. */
export function limitCpusOf(h: HostConfigCpu | undefined): number | null {
  if (h?.NanoCpus && h.NanoCpus > 0) return h.NanoCpus / 1e9;
  if (h?.CpuQuota && h.CpuQuota > 0) return h.CpuQuota / (h.CpuPeriod && h.CpuPeriod > 0 ? h.CpuPeriod : 100_000);
  return null;
}

/** cpu_stats.cpu_usage.total_usage (nanoseconds) in seconds; null when the stats carry none. */
export function usageSecondsOf(stats: unknown): number | null {
  const ns = (stats as { cpu_stats?: { cpu_usage?: { total_usage?: unknown } } } | null)?.cpu_stats?.cpu_usage?.total_usage;
  return typeof ns === "number" && ns >= 0 ? ns / 1e9 : null;
}

/** One reading, or null when the daemon gave none (the container stopped, an old daemon). */
export async function readContainerCpu(
  container: Docker.Container,
  hostConfig: HostConfigCpu | undefined,
): Promise<ContainerCpu | null> {
  try {
    const stats: unknown = await container.stats({ stream: false, "one-shot": true } as { stream: false });
    const usageSeconds = usageSecondsOf(stats);
    return usageSeconds === null ? null : { usageSeconds, limitCpus: limitCpusOf(hostConfig) };
  } catch {
    return null;
  }
}
