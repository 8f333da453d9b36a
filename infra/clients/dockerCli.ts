// The client fleet's Docker objects as docker CLI argument lists: the engine-free twin of the
// @pulumi/docker resources in fleet.ts, built from the same specs. Pure.
import type { ContainerSpec, NetworkSpec } from "./steps.js";

const labelArgs = (labels: Record<string, string>) => Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);

export function dockerBuildArgs(
  image: { name: string; baseImage: string; context: string; dockerfile: string },
  stack: string,
): string[] {
  return [
    "build",
    "-q",
    "-t",
    image.name,
    ...Object.entries(clientBuildArgs(image.baseImage, stack)).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]),
    "-f",
    image.dockerfile,
    image.context,
  ];
}

/**
 * The client image's build arguments, the same for the engine and the direct runner. STACK makes
 * the image the stack's own (a label): two stacks built from the same checkout would otherwise
 * share one image id, and removing one stack's image by id failed while the other's clients ran.
 */
export function clientBuildArgs(baseImage: string, stack: string): Record<string, string> {
  return { BASE_IMAGE: baseImage, STACK: stack };
}

export function dockerNetworkCreateArgs(n: NetworkSpec): string[] {
  return [
    "network",
    "create",
    "--driver",
    "bridge",
    "--subnet",
    n.subnet,
    ...Object.entries(n.options).flatMap(([k, v]) => ["-o", `${k}=${v}`]),
    ...labelArgs(n.labels),
    n.name,
  ];
}

export function dockerRunArgs(c: ContainerSpec, image: string): string[] {
  return [
    "run",
    "-d",
    "--name",
    c.name,
    "--network",
    c.network,
    "--restart",
    c.restart,
    "--ulimit",
    `nofile=${c.nofile}:${c.nofile}`,
    "--log-opt",
    "max-size=1m",
    "--log-opt",
    "max-file=2",
    ...Object.entries(c.sysctls).flatMap(([k, v]) => ["--sysctl", `${k}=${v}`]),
    ...labelArgs(c.labels),
    ...Object.entries(c.env).flatMap(([k, v]) => ["--env", `${k}=${v}`]),
    image,
  ];
}
