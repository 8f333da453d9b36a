// The lab without the Pulumi engine: the same steps, from the same builders and specs, run in
// the same order; teardown in reverse. The end-to-end tests and bench:scale use it.
import { execFileSync, spawnSync } from "node:child_process";
import { dockerBuildArgs, dockerNetworkCreateArgs, dockerRunArgs } from "../clients/dockerCli.js";
import { briefAddresses } from "../plan/net.js";
import { natPoolCreateScript, natPoolDeleteScript } from "../clients/natPool.js";
import { netnsAddressesCreateScript, netnsAddressesDeleteScript } from "../server/netns/scripts/addresses.js";
import { netnsHostCreateScript, netnsHostDeleteScript } from "../server/netns/scripts/host.js";
import { serverStartScript, serverStopScript } from "../server/netns/scripts/server.js";
import { tuningCreateScript, tuningDeleteScript } from "../server/netns/scripts/tuning.js";
import { hostNodeBaseCreateScript, hostNodeBaseDeleteScript, imageRemoveScript } from "../clients/images.js";
import { clientsStopScript, clientsSweepScript, containerDrainScript } from "../clients/drain.js";
import { installFileCreateScript, installFileDeleteScript } from "../install/scripts.js";
import { STACK_LABEL } from "../clients/steps.js";
import { type LabSteps } from "../server/netns/steps.js";

/** How the runner runs a step: a bash script, or the docker CLI; each returns stdout and throws naming `what`. */
export interface DirectExec {
  bash(script: string, what: string): string;
  docker(args: string[], what: string): string;
}

export interface DirectOptions {
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Runs the steps (default: bash and the docker CLI on this machine); tests record them instead. */
  exec?: DirectExec;
}

function runBash(script: string, what: string): string {
  const r = spawnSync("/bin/bash", ["-c", script], { encoding: "utf8", timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${what} failed (exit ${r.status}): ${r.stderr.trim()}`);
  return r.stdout;
}

function runDocker(args: string[], what: string): string {
  try {
    return execFileSync("docker", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 300_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${what} failed: ${(err.stderr ?? err.message).trim()}`);
  }
}

const LOCAL: DirectExec = { bash: runBash, docker: runDocker };

/** Brings the lab up step by step; on any failure tears down what was made and rethrows. */
export function labUp(steps: LabSteps, options: DirectOptions = {}): void {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const { bash, docker } = options.exec ?? LOCAL;
  try {
    log(`server host: namespace ${steps.host.namespace}`);
    bash(netnsHostCreateScript(steps.host), "server host");
    log(`secondary IPs: ${briefAddresses(steps.addresses.addresses)}`);
    bash(netnsAddressesCreateScript(steps.addresses), "secondary IPs");
    log("tuning");
    bash(tuningCreateScript(steps.tuning), "tuning");
    log("connection server");
    bash(installFileCreateScript(steps.serverInstall), "connection server install");
    bash(serverStartScript(steps.server), "connection server");
    log(`client image ${steps.image.name} (base ${steps.image.baseImage})`);
    if (steps.image.hostNodeBase) bash(hostNodeBaseCreateScript(steps.image.hostNodeBase), "client base image");
    // `build -q` prints the image's id: the containers run that image, as the engine's run its repoDigest.
    const imageId = docker(dockerBuildArgs(steps.image, steps.stack), "client image build").trim();
    for (const n of steps.networks) docker(dockerNetworkCreateArgs(n), `network ${n.name}`);
    // Run even when empty (no natPortRange): a no-op, as the engine's step is.
    bash(natPoolCreateScript(steps.natPool), "NAT pool");
    log(`${steps.containers.length} client containers`);
    for (const c of steps.containers) docker(dockerRunArgs(c, imageId || steps.image.name), `container ${c.name}`);
    installConnectionTest(steps, options.exec);
  } catch (e) {
    labDown(steps, { ...options, log });
    throw e;
  }
}

/** Installs (again: idempotent) the connection test's bundle the lab runs verify from. */
export function installConnectionTest(steps: Pick<LabSteps, "verifyInstall">, exec: DirectExec = LOCAL): void {
  exec.bash(installFileCreateScript(steps.verifyInstall), "connection test install");
}

/** Removes everything labUp made, in reverse order; idempotent and tolerant of half-built labs. */
export function labDown(steps: LabSteps, options: DirectOptions = {}): string[] {
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const { bash, docker } = options.exec ?? LOCAL;
  const problems: string[] = [];
  const attempt = (what: string, fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      problems.push(`${what}: ${(e as Error).message}`);
    }
  };
  const labelFilter = `${STACK_LABEL}=${steps.stack}`;
  const filter = `label=${labelFilter}`;
  // A record an older version wrote has no installs: optional.
  const verifyInstall = steps.verifyInstall as LabSteps["verifyInstall"] | undefined;
  if (verifyInstall) attempt("connection test", () => bash(installFileDeleteScript(verifyInstall), "connection test remove"));
  // As the engine's clients-stop step: the lab's conntrack entries first (at 1M, 4.5× faster
  // removal), then each client stops and resets its connections (see clients/drain.ts).
  attempt("clients stop", () =>
    bash(clientsStopScript(labelFilter, { subnets: steps.networks.map((n) => n.subnet) }), "clients stop"),
  );
  // Each client's drain, as the engine's: after the stop above, each finds its client stopped.
  for (const c of steps.containers)
    attempt(`drain ${c.name}`, () => bash(containerDrainScript(c.name, labelFilter), `drain ${c.name}`));
  attempt("containers", () => {
    // A client holding ~20k sockets can take a while to die ("PID ... is zombie and can not be
    // killed"): retry the stragglers a few times before giving up.
    for (let round = 1; ; round++) {
      const ids = docker(["ps", "-aq", "--filter", filter], "list containers").split("\n").filter(Boolean);
      if (ids.length === 0) return;
      try {
        docker(["rm", "-f", ...ids], "remove containers");
      } catch (e) {
        if (round >= 5) throw e;
        spawnSync("sleep", ["3"]);
      }
    }
  });
  // As the engine's sweep: clients of this stack the listing above missed.
  attempt("containers sweep", () => bash(clientsSweepScript(labelFilter), "containers sweep"));
  attempt("NAT pool", () => bash(natPoolDeleteScript(steps.natPool), "NAT pool delete"));
  attempt("networks", () => {
    const ids = docker(["network", "ls", "-q", "--filter", filter], "list networks").split("\n").filter(Boolean);
    if (ids.length) docker(["network", "rm", ...ids], "remove networks");
  });
  // The engine's image cleanup, by name (the record is written before the build knows the id);
  // it also removes the untagged parents a classic build leaves.
  attempt("image", () => bash(imageRemoveScript(steps.image.name), "remove image"));
  const hostNodeBase = steps.image.hostNodeBase;
  if (hostNodeBase) attempt("base image", () => bash(hostNodeBaseDeleteScript(hostNodeBase), "base image remove"));
  attempt("server", () => bash(serverStopScript(steps.server), "server stop"));
  const serverInstall = steps.serverInstall as LabSteps["serverInstall"] | undefined;
  if (serverInstall) attempt("server install", () => bash(installFileDeleteScript(serverInstall), "server remove"));
  attempt("tuning", () => bash(tuningDeleteScript(steps.tuning), "tuning delete"));
  attempt("addresses", () => bash(netnsAddressesDeleteScript(steps.addresses), "addresses delete"));
  attempt("host", () => bash(netnsHostDeleteScript(steps.host), "host delete"));
  for (const p of problems) log(`teardown: ${p}`);
  return problems;
}
