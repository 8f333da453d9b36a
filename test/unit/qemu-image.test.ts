// The vm:image recipe (cache path keyed by what the image is made of, this machine's apt mirror)
// and the qemu script builders' own input checks (they do not rely on the schema).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { aptMirror } from "../../infra/server/vm/qemu/buildImage.js";
import { imageFiles, type ImageRecipe } from "../../infra/server/vm/qemu/image.js";
import { qemuNetworkCreateScript, qemuStartScript, qemuUserData } from "../../infra/server/vm/qemu/scripts.js";
import { ScriptInputError } from "../../infra/shell.js";

const RECIPE: ImageRecipe = {
  mirror: "http://mirror.example/debian",
  node: { path: "/usr/bin/node", sha256: "a".repeat(64) },
  diskSize: "4G",
};

test("vm:image: one cache directory per recipe; a new node or mirror is a new image, the same recipe the same one", () => {
  const files = imageFiles("/cache", RECIPE);
  assert.match(files.dir, /^\/cache\/[0-9a-f]{16}$/);
  assert.deepEqual(files, {
    dir: files.dir,
    disk: `${files.dir}/disk.qcow2`,
    kernel: `${files.dir}/vmlinuz`,
    initrd: `${files.dir}/initrd.img`,
  });
  assert.equal(imageFiles("/elsewhere", RECIPE).dir.slice(-16), files.dir.slice(-16), "the hash is not the cache's location");
  assert.notEqual(imageFiles("/cache", { ...RECIPE, node: { ...RECIPE.node, sha256: "b".repeat(64) } }).dir, files.dir);
  assert.notEqual(imageFiles("/cache", { ...RECIPE, mirror: "http://other-mirror.example/debian" }).dir, files.dir);
});

test("vm:image: the mirror is apt's own (deb822 or one-line), not the security archive", () => {
  const dir = mkdtempSync(join(tmpdir(), "c1mt-apt-"));
  try {
    writeFileSync(
      `${dir}/a.sources`,
      "Types: deb\nURIs: http://security.example/debian-security\nSuites: bookworm-security\n\nTypes: deb\nURIs: http://ftp.example.org/debian/\nSuites: bookworm\n",
    );
    writeFileSync(`${dir}/b.list`, "deb [arch=amd64] http://other.example/debian bookworm main\n");
    assert.equal(aptMirror([`${dir}/a.sources`, `${dir}/b.list`], {}), "http://ftp.example.org/debian");
    assert.equal(aptMirror([`${dir}/b.list`], {}), "http://other.example/debian");
    assert.throws(
      () => aptMirror([], {}),
      /no Debian mirror in this machine's apt sources \(none found\): set C1M_DEBIAN_MIRROR/,
    );
    assert.equal(aptMirror([], { C1M_DEBIAN_MIRROR: "http://mirror.example/debian/" }), "http://mirror.example/debian");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const rejects = (fn: () => unknown, message: RegExp) =>
  assert.throws(fn, (e: Error) => e instanceof ScriptInputError && message.test(e.message));

test("qemu scripts refuse what must not reach a shell, naming the field", () => {
  const net = { bridge: "c1m-br0", tap: "c1m-tap0", hostAddress: "10.202.0.1/24", marker: "c1m-lab:qemu" };
  rejects(
    () => qemuNetworkCreateScript({ ...net, bridge: "br0;reboot" }),
    /qemuNetworkCreateScript: bridge "br0;reboot" is not valid/,
  );
  rejects(() => qemuNetworkCreateScript({ ...net, tap: "c1m-br0" }), /bridge and tap must differ \(both are c1m-br0\)/);
  rejects(() => qemuNetworkCreateScript({ ...net, marker: "other" }), /marker "other" is not valid: use c1m-lab:<stack>/);
  const vm = {
    acceleration: "tcg" as const,
    cpus: 2,
    memoryMiB: 1024,
    dir: "/p/.c1m-lab/s/qemu",
    tap: "c1m-tap0",
    mac: "52:54:00:01:02:03",
  };
  rejects(() => qemuStartScript({ ...vm, mac: "52:54:00:01:02" }), /mac "52:54:00:01:02" is not a MAC address/);
  rejects(() => qemuStartScript({ ...vm, cpus: 0 }), /cpus 0 is not valid: use a whole number from 1 to 64/);
  rejects(
    () => qemuStartScript({ ...vm, kernel: { kernel: "/k", initrd: "/i", args: "quiet; reboot" } }),
    /kernel args "quiet; reboot" are not valid/,
  );
  rejects(() => qemuUserData({ user: "c1m", sshPublicKey: "not a key" }), /sshPublicKey is not valid/);
});
