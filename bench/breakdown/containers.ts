// The client containers after a run, through the Docker API: when each was created and started,
// and its status lines with Docker's timestamps (the client prints one a second), read while the
// containers still exist.
import Docker from "dockerode";
import { demuxLogs } from "../../workload/verify/dockerClients.js";

export interface StatusPoint {
  /** Epoch ms (Docker's timestamp of the line). */
  at: number;
  established: number;
  rampSeconds: number | null;
}

export interface ContainerFacts {
  name: string;
  createdAt: number;
  startedAt: number | null;
  target: number;
  points: StatusPoint[];
}

/** "2026-12-07T02:10:11.123456789Z {json}" lines of status JSON → points (other lines skipped). */
export function statusPoints(stdout: string): { target: number; points: StatusPoint[] } {
  let target = 0;
  const points: StatusPoint[] = [];
  for (const line of stdout.split("\n")) {
    const sp = line.indexOf(" ");
    if (sp < 0 || line[sp + 1] !== "{") continue;
    try {
      const s = JSON.parse(line.slice(sp + 1)) as {
        type?: string;
        established?: number;
        target?: number;
        rampSeconds?: number | null;
      };
      if (s.type !== "status" || typeof s.established !== "number") continue;
      target = s.target ?? target;
      points.push({ at: Date.parse(line.slice(0, sp)), established: s.established, rampSeconds: s.rampSeconds ?? null });
    } catch {
      // not a status line
    }
  }
  return { target, points };
}

export async function readContainers(label: string): Promise<ContainerFacts[]> {
  const docker = new Docker({ timeout: 60_000 });
  const list = await docker.listContainers({ all: true, filters: { label: [label] } });
  const out: ContainerFacts[] = [];
  for (const row of list) {
    const c = docker.getContainer(row.Id);
    const info = await c.inspect();
    const logs = demuxLogs(await c.logs({ stdout: true, stderr: false, timestamps: true, follow: false }));
    const started = info.State.StartedAt && !info.State.StartedAt.startsWith("0001") ? Date.parse(info.State.StartedAt) : null;
    out.push({
      name: info.Name.replace(/^\//, ""),
      createdAt: Date.parse(info.Created),
      startedAt: started,
      ...statusPoints(logs.stdout),
    });
  }
  return out.sort((a, b) => a.createdAt - b.createdAt);
}
