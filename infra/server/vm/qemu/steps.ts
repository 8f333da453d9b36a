// The qemu provider's host-side steps as plain data (pure, like vmSteps.ts): the bridge and tap,
// the overlay and seed, the VM. The VM's primary lab address comes from the seed's netplan
// network-config, so ssh reaches it over the bridge; the drop-in adds the secondaries.
import { createHash } from "node:crypto";
import type { LabConfig } from "../../../config/schema.js";
import {
  qemuMetaData,
  qemuNetworkConfig,
  qemuUserData,
  type QemuDiskOptions,
  type QemuNetworkOptions,
  type QemuVmOptions,
} from "./scripts.js";

export type QemuServerConfig = Extract<LabConfig["server"], { provider: "qemu" }>;

export interface QemuSteps {
  network: QemuNetworkOptions;
  disk: QemuDiskOptions;
  vm: QemuVmOptions;
}

const expand = (path: string, home: string) => (path === "~" ? home : path.startsWith("~/") ? `${home}${path.slice(1)}` : path);

/** A locally administered MAC (QEMU's 52:54:00 prefix), fixed per stack and tap. */
export function qemuMac(stack: string, tap: string): string {
  const h = createHash("sha256").update(`${stack}/${tap}`).digest("hex");
  return `52:54:00:${h.slice(0, 2)}:${h.slice(2, 4)}:${h.slice(4, 6)}`;
}

/** Where a downloaded image is cached: one directory per URL, the file keeps its name. */
export function imageCachePath(url: string, home: string): string {
  const name = (new URL(url).pathname.split("/").pop() || "image").replace(/[^A-Za-z0-9_.+@-]/g, "_");
  const key = createHash("sha256").update(url).digest("hex").slice(0, 16);
  return `${home}/.cache/c1m-lab/images/${key}/${name}`;
}

export function qemuSteps(
  server: QemuServerConfig,
  stack: string,
  /** The stack's own directory on this machine (paths.ts): the overlay, seed and VM files go in its qemu/. */
  stackDir: string,
  inputs: { sshPublicKey: string; home: string },
): QemuSteps {
  const dir = `${stackDir}/qemu`;
  const mac = qemuMac(stack, server.tap);
  const isUrl = /^https?:\/\//.test(server.image);
  const hostname = `c1m-${stack.toLowerCase().replace(/[^a-z0-9-]/g, "-")}`.slice(0, 63);
  return {
    network: { bridge: server.bridge, tap: server.tap, hostAddress: server.hostAddress, marker: `c1m-lab:${stack}` },
    disk: {
      base: isUrl ? imageCachePath(server.image, inputs.home) : expand(server.image, inputs.home),
      ...(isUrl ? { url: server.image } : {}),
      dir,
      seed: {
        userData: qemuUserData({ user: server.user, sshPublicKey: inputs.sshPublicKey }),
        metaData: qemuMetaData({ instanceId: `${hostname}-${mac.replace(/:/g, "").slice(6)}`, hostname }),
        networkConfig: qemuNetworkConfig({ iface: server.interface, mac, address: server.primaryAddress }),
      },
    },
    vm: {
      acceleration: server.acceleration,
      cpus: server.cpus,
      memoryMiB: server.memoryMiB,
      dir,
      tap: server.tap,
      mac,
      ...(server.kernel && server.initrd
        ? {
            kernel: {
              kernel: expand(server.kernel, inputs.home),
              initrd: expand(server.initrd, inputs.home),
              args: server.kernelArgs,
            },
          }
        : {}),
    },
  };
}
