// The qemu provider's config: defaults, and bad values rejected naming the key and the value.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, parseLabConfig } from "../../infra/config/schema.js";

const IMAGE = "/var/lib/images/bookworm.qcow2";

test("qemu: the defaults around an image", () => {
  const c = parseLabConfig({ server: { provider: "qemu", image: IMAGE, secondaryAddresses: { count: 2 } } });
  assert.deepEqual(c.server, {
    provider: "qemu",
    acceleration: "auto",
    image: IMAGE,
    kernelArgs: "root=/dev/vda rw console=ttyS0 net.ifnames=0",
    cpus: 2,
    memoryMiB: 2048,
    bridge: "c1m-br0",
    tap: "c1m-tap0",
    hostAddress: "10.202.0.1/24",
    sshPublicKeyPath: "~/.ssh/id_ed25519.pub",
    user: "c1m",
    sshAgent: false,
    interface: "eth0",
    primaryAddress: "10.202.0.2/24",
    secondaryAddresses: { count: 2 },
    port: 9000,
    metricsPort: 9100,
    workers: "auto",
    metricsAddress: "127.0.0.1",
    addresses: ["10.202.0.2/24", "10.202.0.3/24", "10.202.0.4/24"],
  });
});

test("qemu: an http(s) URL, ~ paths and direct kernel boot are accepted", () => {
  for (const image of ["https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img", "~/images/x.qcow2"]) {
    const c = parseLabConfig({
      server: { provider: "qemu", image, kernel: "~/k/vmlinuz", initrd: "/k/initrd.img", acceleration: "tcg" },
    });
    assert.equal(c.server.provider === "qemu" && c.server.image, image);
  }
});

const bad: [string, Record<string, unknown>, string][] = [
  [
    "no image",
    {},
    "Invalid c1m-lab config:\n✖ a local qcow2/raw image path (absolute or ~/...) or an http(s) URL (`npm run vm:image` builds one)\n  → at server.image",
  ],
  [
    "an image that is neither a path nor a URL",
    { image: "ftp://example.org/x.img" },
    `Invalid c1m-lab config:\n✖ a local qcow2/raw image path (absolute or ~/...) or an http(s) URL (\`npm run vm:image\` builds one); got "ftp://example.org/x.img"\n  → at server.image`,
  ],
  [
    "a relative image path with shell in it",
    { image: "x.qcow2;reboot" },
    `Invalid c1m-lab config:\n✖ a local qcow2/raw image path (absolute or ~/...) or an http(s) URL (\`npm run vm:image\` builds one); got "x.qcow2;reboot"\n  → at server.image`,
  ],
  [
    "sshAgent as a word",
    { image: IMAGE, sshAgent: "yes" },
    `Invalid c1m-lab config:\n✖ Invalid input: expected boolean, received string; got "yes"\n  → at server.sshAgent`,
  ],
  [
    "acceleration outside auto | kvm | tcg",
    { image: IMAGE, acceleration: "hvf" },
    `Invalid c1m-lab config:\n✖ Invalid option: expected one of "auto"|"kvm"|"tcg"; got "hvf"\n  → at server.acceleration`,
  ],
  [
    "a bridge name longer than 15 characters",
    { image: IMAGE, bridge: "c1m-bridge-too-long" },
    `Invalid c1m-lab config:\n✖ an interface name: 1-15 letters, digits, '_', '.', '-'; got "c1m-bridge-too-long"\n  → at server.bridge`,
  ],
  [
    "a tap name with a space",
    { image: IMAGE, tap: "tap 0" },
    `Invalid c1m-lab config:\n✖ an interface name: 1-15 letters, digits, '_', '.', '-'; got "tap 0"\n  → at server.tap`,
  ],
  [
    "the tap named like the bridge",
    { image: IMAGE, bridge: "c1m-x", tap: "c1m-x" },
    "Invalid c1m-lab config:\n✖ tap and bridge must differ (both are c1m-x)\n  → at server.tap",
  ],
  [
    "zero cpus",
    { image: IMAGE, cpus: 0 },
    "Invalid c1m-lab config:\n✖ Too small: expected number to be >=1; got 0\n  → at server.cpus",
  ],
  [
    "too little memory",
    { image: IMAGE, memoryMiB: 64 },
    "Invalid c1m-lab config:\n✖ Too small: expected number to be >=256; got 64\n  → at server.memoryMiB",
  ],
  [
    "a kernel without an initrd",
    { image: IMAGE, kernel: "/boot/vmlinuz" },
    "Invalid c1m-lab config:\n✖ kernel and initrd go together (direct kernel boot); set both or neither\n  → at server.initrd",
  ],
  [
    "an address outside the bridge subnet",
    { image: IMAGE, secondaryAddresses: ["10.9.0.3/24"] },
    'Invalid c1m-lab config:\n✖ server.secondaryAddresses[0]: "10.9.0.3/24" is outside the bridge subnet of hostAddress 10.202.0.1/24; use addresses in that subnet',
  ],
  [
    "the primary address on the host's side of the bridge",
    { image: IMAGE, primaryAddress: "10.202.0.1/24" },
    "Invalid c1m-lab config:\n✖ address 10.202.0.1/24 is the host side's own address (hostAddress); pick another\n  → at server.primaryAddress",
  ],
];

for (const [name, server, message] of bad) {
  test(`qemu: rejects ${name}`, () => {
    assert.throws(
      () => parseLabConfig({ server: { provider: "qemu", ...server } }),
      (e: Error) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.message, message);
        return true;
      },
    );
  });
}
