// find-limit's next step: STEP_SIGNAL to every running client container through the Docker API
// (the client, PID 1 in its container, handles it; see workload/client.ts).
import type Docker from "dockerode";
import { STEP_SIGNAL } from "../../../shared/findLimit.js";
import { dockerClient } from "../dockerClients.js";

/** Signals the running containers with the label; resolves to an error message, or null when each got it. */
export async function signalClients(label: string, docker: Docker = dockerClient()): Promise<string | null> {
  let running: Docker.ContainerInfo[];
  try {
    running = await docker.listContainers({ filters: { label: [label], status: ["running"] } });
  } catch (err) {
    return `docker: listing the clients failed: ${(err as Error).message}`;
  }
  if (running.length === 0) return `no running client container has the label ${label}`;
  const failed = await Promise.all(
    running.map((c) =>
      docker
        .getContainer(c.Id)
        .kill({ signal: STEP_SIGNAL })
        .then(
          () => null,
          (err: Error) => `${(c.Names[0] ?? c.Id).replace(/^\//, "")}: ${err.message}`,
        ),
    ),
  );
  const errors = failed.filter((e): e is string => e !== null);
  return errors.length === 0 ? null : `${STEP_SIGNAL} did not reach ${errors.join("; ")}`;
}
