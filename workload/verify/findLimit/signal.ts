// find-limit's next step: STEP_SIGNAL to every running client container through the Docker API
// (the client, PID 1 in its container, handles it; see workload/client.ts): this machine's
// Docker, or each client host's (over its ssh session: POST /containers/{id}/kill?signal=…).
import type Docker from "dockerode";
import { STEP_SIGNAL } from "../../../shared/findLimit.js";
import { dockerClient } from "../dockerClients.js";

/** One client host's Docker, as the hosts observer reads it. */
export interface SignalTarget {
  name: string;
  docker: Docker;
  /** Why this host cannot be reached at all (its login key is unreadable). */
  broken?: string;
}

/** Signals the running containers with the label; resolves to the problems (none: each got it). */
async function signalOne(label: string, docker: Docker): Promise<string[]> {
  let running: Docker.ContainerInfo[];
  try {
    running = await docker.listContainers({ filters: { label: [label], status: ["running"] } });
  } catch (err) {
    return [`docker: listing the clients failed: ${(err as Error).message}`];
  }
  if (running.length === 0) return [`no running client container has the label ${label}`];
  const failed = await Promise.all(
    running.map((c) =>
      docker
        .getContainer(c.Id)
        .kill({ signal: STEP_SIGNAL })
        .then(
          () => null,
          (err: Error) => `${STEP_SIGNAL} did not reach ${(c.Names[0] ?? c.Id).replace(/^\//, "")}: ${err.message}`,
        ),
    ),
  );
  return failed.filter((e): e is string => e !== null);
}

/** This machine's labelled clients; resolves to an error message, or null when each got the signal. */
export async function signalClients(label: string, docker: Docker = dockerClient()): Promise<string | null> {
  const problems = await signalOne(label, docker);
  return problems.length === 0 ? null : problems.join("; ");
}

/**
 * Every client host's labelled clients, all hosts at once (a step's shares are spread over the
 * hosts); resolves to the problems, each naming its host, or null when every container got it.
 */
export async function signalHosts(label: string, hosts: SignalTarget[]): Promise<string | null> {
  const perHost = await Promise.all(
    hosts.map(async (h) => {
      const problems = h.broken ? [h.broken] : await signalOne(label, h.docker);
      return problems.map((p) => `client host ${h.name}: ${p}`);
    }),
  );
  const problems = perHost.flat();
  return problems.length === 0 ? null : problems.join("; ");
}
