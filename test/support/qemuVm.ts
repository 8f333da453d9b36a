// What the VM tests need: the tools (a clear failure naming what to install, never a skip), the
// image `npm run vm:image` built for this machine, a key pair, a free lab subnet, and a VM booted
// with the qemu provider's own scripts (for the tests that adopt it over ssh).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { imageCacheRoot, localRecipe } from "../../infra/server/vm/qemu/buildImage.js";
import { imageFiles, type ImageFiles } from "../../infra/server/vm/qemu/image.js";
import { parseLabConfig } from "../../infra/config/schema.js";
import {
  qemuDiskCreateScript,
  qemuDiskDeleteScript,
  qemuNetworkCreateScript,
  qemuNetworkDeleteScript,
  qemuInstanceScript,
  qemuStartScript,
  qemuStopScript,
} from "../../infra/server/vm/qemu/scripts.js";
import { qemuSteps, type QemuServerConfig, type QemuSteps } from "../../infra/server/vm/qemu/steps.js";
import { waitForSshScript } from "../../infra/server/vm/scripts/ssh.js";
import { hostKeyFrom } from "../../infra/server/vm/scripts/hostKey.js";
import { run, sshOptions, type Ran } from "./realEngine.js";

const has = (c: string) => {
  try {
    execFileSync("/bin/bash", ["-c", `command -v ${c}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
};

/** Throws (the test fails) with what to install when something the VM tests need is missing. */
export function requireVmTools(): ImageFiles {
  if (process.getuid?.() !== 0) throw new Error("the VM tests need root (bridge, tap, iptables, qemu)");
  const missing = [
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["qemu-img", "qemu-utils"],
    ["genisoimage", "genisoimage"],
    ["debootstrap", "debootstrap"],
    ["docker", "docker.io"],
    ["ssh", "openssh-client"],
  ].filter(([c]) => !has(c!));
  if (missing.length) {
    throw new Error(
      `the VM tests need ${missing.map(([c]) => c).join(", ")}: apt-get install ${missing.map(([, p]) => p).join(" ")}, then npm run vm:image`,
    );
  }
  const files = imageFiles(imageCacheRoot(), localRecipe());
  for (const f of [files.disk, files.kernel, files.initrd]) {
    if (!existsSync(f))
      throw new Error(
        `the VM image for this machine is not built (${f} is missing): run npm run vm:image (as root; .ci/run does)`,
      );
  }
  return files;
}

/** A /24 in 10.204.0.0/16 with no route on this machine yet. */
export function freeSubnet(seed: number): string {
  const routes = execFileSync("ip", ["-4", "route"], { encoding: "utf8" });
  for (let i = 0; i < 250; i++) {
    const n = 10 + ((seed + i) % 240);
    if (!routes.includes(`10.204.${n}.`)) return `10.204.${n}`;
  }
  throw new Error("no free 10.204.x.0/24 subnet");
}

export function keyPair(dir: string): { privateKey: string; publicKey: string; path: string } {
  const path = `${dir}/id_ed25519`;
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "c1mt", "-f", path]);
  return { privateKey: readFileSync(path, "utf8"), publicKey: readFileSync(`${path}.pub`, "utf8"), path };
}

const bash = (text: string, timeoutMs = 120_000): Promise<Ran> => run(["/bin/bash", "-c", text], { timeoutMs });

/** A VM booted with the qemu provider's scripts (network, disk, start), as the user's own host. */
export class TestVm {
  readonly steps: QemuSteps;
  readonly address: string;
  bootSeconds = 0;
  /** The host key the disk step made for the VM (its public half, as the step printed it); ssh pins it. */
  hostKey = "";

  constructor(
    readonly server: QemuServerConfig,
    private readonly key: { privateKey: string; publicKey: string; path: string },
    root: string,
    stack: string,
  ) {
    this.steps = qemuSteps(server, stack, `${root}/.c1m-lab/${stack}`, {
      sshPublicKey: key.publicKey,
      home: process.env.HOME ?? "/root",
    });
    this.address = server.primaryAddress.split("/")[0]!;
  }

  static config(image: ImageFiles, subnet: string, names: { bridge: string; tap: string }): QemuServerConfig {
    const c = parseLabConfig({
      server: {
        provider: "qemu",
        acceleration: "tcg",
        image: image.disk,
        kernel: image.kernel,
        initrd: image.initrd,
        ...names,
        hostAddress: `${subnet}.1/24`,
        primaryAddress: `${subnet}.2/24`,
        cpus: 2,
        memoryMiB: 1024,
      },
    });
    return c.server as QemuServerConfig;
  }

  async boot(): Promise<void> {
    const started = Date.now();
    const wait = () =>
      waitForSshScript({
        host: this.address,
        port: 22,
        user: this.server.user,
        timeoutSeconds: 400,
        keyPath: this.key.path,
        hostKey: this.hostKey,
      });
    for (const [what, text] of [
      ["network", () => qemuNetworkCreateScript(this.steps.network)],
      ["disk", () => qemuDiskCreateScript(this.steps.disk)],
      ["start", () => qemuStartScript(this.steps.vm)],
      ["ssh", wait],
    ] as const) {
      const r = await bash(text(), 600_000);
      if (r.code !== 0) throw new Error(`test VM ${what} failed (exit ${r.code}): ${r.stderr}\n${r.stdout}`);
      if (what === "disk") this.hostKey = hostKeyFrom(r.stdout, "the test VM's disk step");
    }
    this.bootSeconds = (Date.now() - started) / 1000;
  }

  /** ssh options that let in only a host presenting the disk step's key. */
  private pinned(): string[] {
    // Beside the test's key, not in the lab's directory (its delete removes that directory when empty).
    const knownHosts = `${this.key.path}.known_hosts-${this.address}`;
    writeFileSync(knownHosts, `${this.address} ${this.hostKey}\n`);
    return sshOptions(this.key.path).map((o) =>
      o === "StrictHostKeyChecking=no"
        ? "StrictHostKeyChecking=yes"
        : o === "UserKnownHostsFile=/dev/null"
          ? `UserKnownHostsFile=${knownHosts}`
          : o,
    );
  }

  /** The instance token the running VM's start left (infra/instance.ts); "" when it is not running. */
  async instance(): Promise<string> {
    return (await bash(qemuInstanceScript(this.steps.vm))).stdout.trim();
  }

  /** Runs a command line on the VM as the lab user (sudo for root); a VM booted here must present its pinned key. */
  ssh(command: string): Promise<Ran> {
    const opts = this.hostKey ? this.pinned() : sshOptions(this.key.path);
    return run(["ssh", ...opts, `${this.server.user}@${this.address}`, command], { timeoutMs: 120_000 });
  }

  /** Stops the VM and removes overlay, seed, tap, bridge and rules; returns the failures. */
  async remove(): Promise<string[]> {
    const problems: string[] = [];
    for (const [what, text] of [
      ["stop", qemuStopScript(this.steps.vm)],
      ["disk", qemuDiskDeleteScript(this.steps.disk)],
      ["network", qemuNetworkDeleteScript(this.steps.network)],
    ] as const) {
      const r = await bash(text);
      if (r.code !== 0) problems.push(`${what}: ${r.stderr}`);
    }
    return problems;
  }
}
