// A Node base image from this machine's own `node` binary and the libraries it links, for
// machines that reach no image registry (these, and air-gapped labs):
// `docker build --build-arg BASE_IMAGE=<it>` then works offline. The same recipe as the lab's
// `clients.baseImage: host-node` step, under a name shared by the tests and bench:scale.
import { execFileSync } from "node:child_process";
import { hostNodeBaseCreateScript } from "../clients/images.js";

/** Builds (or reuses) an image holding only node at /usr/local/bin/node; returns its name. */
export function ensureLocalNodeBase(name = `c1m-lab-node-base:${process.versions.node}`): string {
  execFileSync("/bin/bash", ["-c", hostNodeBaseCreateScript({ name, node: process.execPath })], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  return name;
}
