// The client containers as the connection test sees them, through the Docker Engine API
// (dockerode; honours DOCKER_HOST, so unix://, tcp:// and ssh:// Docker hosts work). One poll is
// a list, then an inspect and a log tail per container. The API matters at scale: spawning the
// docker CLI for 51 containers every 2 s took a quarter of this 2-core machine during a 1M ramp
// (each CLI run costs ~40 ms of CPU); the same requests over the socket cost about 1 ms each.
import Docker from "dockerode";
import type { ClientObservation } from "./types.js";
import { lastLine, lastStatusLine } from "./logLines.js";
import { readContainerCpu } from "./containerCpu.js";

export interface DockerClientsOptions {
  /** A Docker API client; default: dockerClient(). */
  docker?: Docker;
  /** Parallel requests (default 16). */
  concurrency?: number;
}

export type ClientsResult = { ok: true; clients: ClientObservation[] } | { ok: false; error: string };

export interface InspectRow {
  id: string;
  name: string;
  state: string;
  exitCode: number | null;
  restartCount: number;
  oomKilled: boolean;
  /** When it (last) started, ISO 8601; null if never. */
  startedAt: string | null;
}

/** Docker's "never started" time. */
const ZERO_TIME = /^0001-01-01/;

/** The parts of GET /containers/{id}/json the test uses. */
export function toInspectRow(c: {
  Id?: string;
  Name?: string;
  RestartCount?: number;
  State?: { Status?: string; ExitCode?: number; OOMKilled?: boolean; StartedAt?: string };
}): InspectRow {
  const started = c.State?.StartedAt;
  return {
    startedAt: started && !ZERO_TIME.test(started) ? started : null,
    id: c.Id ?? "",
    name: (c.Name ?? c.Id ?? "").replace(/^\//, ""),
    state: c.State?.Status ?? "unknown",
    exitCode: typeof c.State?.ExitCode === "number" ? c.State.ExitCode : null,
    restartCount: c.RestartCount ?? 0,
    oomKilled: c.State?.OOMKilled ?? false,
  };
}

/**
 * GET /containers/{id}/logs of a container without a TTY: frames of [stream, 0, 0, 0, size (u32
 * big-endian)] + payload, stream 1 = stdout, 2 = stderr. Anything else is taken as raw stdout (a
 * TTY container's log is not framed).
 */
export function demuxLogs(buf: Buffer): { stdout: string; stderr: string } {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  let at = 0;
  while (at + 8 <= buf.length) {
    const stream = buf[at]!;
    const size = buf.readUInt32BE(at + 4);
    if (stream > 2 || buf[at + 1] !== 0 || buf[at + 2] !== 0 || buf[at + 3] !== 0 || at + 8 + size > buf.length) break;
    (stream === 2 ? err : out).push(buf.subarray(at + 8, at + 8 + size));
    at += 8 + size;
  }
  if (at !== buf.length) return { stdout: buf.toString("utf8"), stderr: "" };
  return { stdout: Buffer.concat(out).toString("utf8"), stderr: Buffer.concat(err).toString("utf8") };
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function describe(err: unknown): string {
  const e = err as { message?: string; statusCode?: number; json?: { message?: string } | null };
  return e.json?.message ?? e.message ?? String(err);
}

/** A Docker API client from DOCKER_HOST (or the local socket), with a per-request limit. */
export function dockerClient(timeoutMs = 15_000): Docker {
  return new Docker({ timeout: timeoutMs });
}

/** Every container with the label (key or key=value): its state, restarts, last status line and last error. */
export async function observeClients(label: string, opts: DockerClientsOptions = {}): Promise<ClientsResult> {
  const docker = opts.docker ?? dockerClient();
  let list: Docker.ContainerInfo[];
  try {
    list = await docker.listContainers({ all: true, filters: { label: [label] } });
  } catch (err) {
    return { ok: false, error: `docker: listing containers failed: ${describe(err)}` };
  }
  const clients = await mapLimit(list, opts.concurrency ?? 16, async (row): Promise<ClientObservation | null> => {
    const container = docker.getContainer(row.Id);
    let st: InspectRow;
    let hostConfig: Docker.ContainerInspectInfo["HostConfig"] | undefined;
    try {
      const info = await container.inspect();
      st = toInspectRow(info);
      hostConfig = info.HostConfig;
    } catch {
      return null; // removed since the list
    }
    // Its CPU reading alongside the log tail: a busy daemon answers stats slowly at times.
    const cpuRead = st.state === "running" ? readContainerCpu(container, hostConfig) : Promise.resolve(null);
    let logs = { stdout: "", stderr: "" };
    try {
      logs = demuxLogs(await container.logs({ stdout: true, stderr: true, tail: 5, follow: false }));
    } catch {
      // no logs (yet, or the container went away): the state still counts
    }
    const cpu = await cpuRead;
    return {
      name: st.name || (row.Names[0] ?? row.Id).replace(/^\//, ""),
      id: row.Id.slice(0, 12),
      state: st.state,
      exitCode: st.exitCode,
      restartCount: st.restartCount,
      oomKilled: st.oomKilled,
      startedAt: st.startedAt,
      status: lastStatusLine(logs.stdout),
      lastError: lastLine(logs.stderr),
      ...(cpu ? { cpu } : {}),
    };
  });
  return { ok: true, clients: clients.filter((c): c is ClientObservation => c !== null) };
}
