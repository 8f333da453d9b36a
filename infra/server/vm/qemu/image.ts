// The test VM image (`npm run vm:image`): Debian bookworm built with debootstrap (minbase plus
// what the lab's VM steps use: systemd, netplan.io, cloud-init, openssh-server, iproute2, procps,
// sudo) and this machine's Node.js copied to /usr/local/bin/node (bookworm's nodejs is 18; the
// workload needs 20). The root filesystem is written straight into an ext4 image (`mkfs.ext4 -d`:
// no loop device, no partition table, no boot loader) and converted to qcow2; the kernel and a
// small initrd are kept beside it for qemu's direct kernel boot, which is what makes the boot
// quick under TCG. Pure: the script and its recipe hash; infra/qemu/buildImage.ts runs it.
import { createHash } from "node:crypto";
import { q, script } from "../../../shell.js";

export const IMAGE_SUITE = "bookworm";
/** The packages beyond minbase. No Recommends (debootstrap's default): only what the steps run. */
export const IMAGE_PACKAGES = [
  "linux-image-amd64",
  "initramfs-tools",
  "kmod",
  "udev",
  "systemd",
  "systemd-sysv",
  "dbus", // networkctl talks to networkd over D-Bus
  "netplan.io",
  "cloud-init",
  "openssh-server",
  "iproute2",
  "procps", // sysctl
  "sudo",
  "libstdc++6", // node's own libraries
  "python3-cffi-backend", // provides a virtual package cloud-init needs, which debootstrap's resolver does not follow
];
/** The kernel command line for the direct boot: the image is one ext4 filesystem on the first disk. */
export const IMAGE_KERNEL_ARGS = "root=/dev/vda rw console=ttyS0 net.ifnames=0";

export interface ImageRecipe {
  /** apt mirror for debootstrap (this machine's, from /etc/apt/sources.list*). */
  mirror: string;
  /** The node binary copied in, and its sha256 (part of the recipe: a new node is a new image). */
  node: { path: string; sha256: string };
  /** Size of the root filesystem (sparse; qcow2 stores only what is used). */
  diskSize: string;
}

export interface ImageFiles {
  dir: string;
  disk: string;
  kernel: string;
  initrd: string;
}

/** The cache directory of a recipe: <cacheRoot>/<first 16 hex digits of its hash>. */
export function imageFiles(cacheRoot: string, recipe: ImageRecipe): ImageFiles {
  const dir = `${cacheRoot}/${recipeHash(recipe)}`;
  return { dir, disk: `${dir}/disk.qcow2`, kernel: `${dir}/vmlinuz`, initrd: `${dir}/initrd.img` };
}

/** Hash of everything the image is made from: the build script (packages, config files) and the node binary. */
export function recipeHash(recipe: ImageRecipe): string {
  const text = imageBuildScript(recipe, "/CACHE");
  return createHash("sha256").update(text).update(recipe.node.sha256).digest("hex").slice(0, 16);
}

// Configuration the image carries (written by the build script inside the root filesystem).
const CLOUD_CFG = [
  "# c1m-lab test image: the NoCloud seed only (no network probing for other datasources),",
  "# netplan renders the network-config, ed25519 host keys only (RSA key generation is slow under TCG).",
  "datasource_list: [NoCloud, None]",
  "system_info:",
  "  network:",
  "    renderers: [netplan]",
  "ssh_genkeytypes: [ed25519]",
  "",
].join("\n");
const INITRAMFS_CONF = "MODULES=list\n";
/** The initrd holds only what mounts the root filesystem: small, so it unpacks quickly under TCG. */
const INITRAMFS_MODULES = "virtio_pci\nvirtio_blk\next4\n";
const FSTAB = "/dev/vda / ext4 errors=remount-ro 0 1\n";
const SOURCES = (mirror: string) => `deb ${mirror} ${IMAGE_SUITE} main\n`;

function writeFile(path: string, text: string): string {
  const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
  return `printf '%s\\n' ${lines.map(q).join(" ")} > "$root"${q(path)}`;
}

/**
 * The build, as root: debootstrap into a temp directory under the cache, configure, make the ext4
 * image and the qcow2, move the result into <cacheRoot>/<hash> in one rename and point
 * <cacheRoot>/current at it. An existing result is kept (prints "cached").
 */
export function imageBuildScript(recipe: ImageRecipe, cacheRoot: string): string {
  if (!/^https?:\/\/[A-Za-z0-9._:/~-]+$/.test(recipe.mirror))
    throw new Error(`mirror ${JSON.stringify(recipe.mirror)} is not an http(s) URL`);
  if (!/^\d+[MG]$/.test(recipe.diskSize)) throw new Error(`diskSize ${JSON.stringify(recipe.diskSize)} is not a size like 4G`);
  const hash = cacheRoot === "/CACHE" ? "HASH" : recipeHash(recipe);
  return script("vm image build", [
    'fail() { echo "vm:image: $*" >&2; exit 1; }',
    '[ "$(id -u)" -eq 0 ] || fail "building the image needs root (debootstrap, chroot)"',
    "for c in debootstrap mkfs.ext4 qemu-img chroot; do",
    '  command -v "$c" >/dev/null 2>&1 || fail "$c is not installed: apt-get install debootstrap e2fsprogs qemu-utils"',
    "done",
    `cache=${q(cacheRoot)}`,
    `out="$cache/"${q(hash)}`,
    'if [ -f "$out/disk.qcow2" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd.img" ]; then',
    '  ln -sfn -- "$(basename -- "$out")" "$cache/current"',
    '  echo "vm:image: cached $out"',
    "  exit 0",
    "fi",
    // The .debs stay between builds (debootstrap --cache-dir): a rebuild downloads only what changed.
    'debs="$cache/debs"',
    'mkdir -p -- "$cache" "$debs"',
    'work=$(mktemp -d "$cache/.build.XXXXXX")',
    // Mounts made by debootstrap or the chroot steps are undone before the tree goes.
    'cleanup() { for m in proc sys dev/pts dev; do umount -l -- "$work/rootfs/$m" 2>/dev/null || true; done; rm -rf -- "$work"; }',
    "trap cleanup EXIT",
    'root="$work/rootfs"',
    "start=$SECONDS",
    'echo "vm:image: debootstrap ' +
      IMAGE_SUITE +
      " (minbase + " +
      IMAGE_PACKAGES.length +
      " packages) from " +
      recipe.mirror +
      '"',
    `timeout 3600 debootstrap --variant=minbase --cache-dir="$debs" --include=${q(IMAGE_PACKAGES.join(","))} ${IMAGE_SUITE} "$root" ${q(recipe.mirror)} > "$work/debootstrap.log" 2>&1 || { tail -n 30 "$work/debootstrap.log" >&2; fail "debootstrap failed"; }`,
    'echo "vm:image: debootstrap done in $((SECONDS - start))s"',
    `install -m 0755 -- ${q(recipe.node.path)} "$root/usr/local/bin/node"`,
    'chroot "$root" /usr/local/bin/node --version >/dev/null || fail "the copied node does not run inside the image"',
    writeFile("/etc/cloud/cloud.cfg.d/90-c1m-lab.cfg", CLOUD_CFG),
    writeFile("/etc/initramfs-tools/conf.d/c1m-lab.conf", INITRAMFS_CONF),
    writeFile("/etc/initramfs-tools/modules", INITRAMFS_MODULES),
    writeFile("/etc/fstab", FSTAB),
    writeFile("/etc/apt/sources.list", SOURCES(recipe.mirror)),
    writeFile("/etc/hostname", "c1m-vm\n"),
    'mount -t proc proc "$root/proc"',
    'timeout 600 chroot "$root" update-initramfs -u -k all >/dev/null',
    'umount -l -- "$root/proc"',
    // netplan's networkd renderer needs networkd running; nothing waits for "online" (no DHCP here).
    'chroot "$root" systemctl enable systemd-networkd >/dev/null 2>&1',
    // cloud-init's init stages do what the seed asks (network-config, the user and its key); its
    // config and final stages would spend a minute of TCG time on modules the seed does not use
    // (and restart sshd under the lab's first steps).
    'chroot "$root" systemctl mask systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer cloud-config.service cloud-final.service >/dev/null 2>&1',
    // Per VM, made at first boot: host keys (cloud-init) and the machine id (systemd).
    'rm -f -- "$root"/etc/ssh/ssh_host_*',
    ': > "$root/etc/machine-id"',
    'rm -f -- "$root/var/lib/dbus/machine-id"',
    'rm -rf -- "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/log/*.log',
    'kernel=$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n 1)',
    'initrd=$(ls "$root"/boot/initrd.img-* | sort -V | tail -n 1)',
    'cp -- "$kernel" "$work/vmlinuz"',
    'cp -- "$initrd" "$work/initrd.img"',
    `truncate -s ${recipe.diskSize} "$work/disk.raw"`,
    'mkfs.ext4 -q -F -L c1m-root -d "$root" "$work/disk.raw"',
    'qemu-img convert -O qcow2 "$work/disk.raw" "$work/disk.qcow2"',
    'mkdir -p -- "$work/out"',
    'mv -- "$work/disk.qcow2" "$work/vmlinuz" "$work/initrd.img" "$work/out/"',
    'chmod 0444 -- "$work/out/"*',
    'rm -rf -- "$out"',
    'mv -- "$work/out" "$out"',
    'ln -sfn -- "$(basename -- "$out")" "$cache/current"',
    'echo "vm:image: built $out in $((SECONDS - start))s ($(du -sh "$out/disk.qcow2" | cut -f1) qcow2, kernel $(basename "$kernel"))"',
  ]);
}
