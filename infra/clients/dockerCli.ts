// The client fleet's Docker objects as docker CLI argument lists: the engine-free twin of the
// @pulumi/docker resources in fleet.ts, built from the same specs. Pure.
import type { ContainerSpec, NetworkSpec } from "./steps.js";

const labelArgs = (labels: Record<string, string>) => Object.entries(labels).flatMap(([k, v]) => ["--label", `${k}=${v}`]);

export function dockerBuildArgs(image: { name: string; baseImage: string; context: string; dockerfile: string }): string[] {
  return ["build", "-q", "-t", image.name, "--build-arg", `BASE_IMAGE=${image.baseImage}`, "-f", image.dockerfile, image.context];
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
