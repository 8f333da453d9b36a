// Script builders for the qemu provider's host side, run on this machine by local Commands: the
// lab-owned bridge and tap (with FORWARD accept rules, so the lab does not depend on the host
// firewall's policy), the base image (downloaded once when it is a URL), the copy-on-write
// overlay and the cloud-init NoCloud seed, and the VM process itself. Pure: each returns a bash
// script; every interpolated value goes through `q`. Each create checks what it needs before it
// makes anything; each delete is idempotent and touches only what carries the lab's marker.
import { Document } from "yaml";
import { isInterfaceName, isIpv4Cidr, isMacAddress } from "../../../../netplan/render.js";
import { ScriptInputError } from "../../../shell.js";
import { SSH_PUBLIC_KEY } from "../scripts/checks.js";
import { PRINT_HOST_KEY, seedHostKeyLines } from "../scripts/hostKey.js";
import { FAIL, PRINT_INSTANCE_TOKEN, cmd, q, script, writeText } from "../../../shell.js";

export const QEMU_BINARY = "qemu-system-x86_64";
const INSTALL_HINT = "apt-get install qemu-system-x86 qemu-utils genisoimage";

function checkIface(value: string, name: string, where: string): string {
  if (typeof value !== "string" || !isInterfaceName(value)) {
    throw new ScriptInputError(
      `${where}: ${name} ${JSON.stringify(value)} is not valid: use an interface name of 1-15 letters, digits, '_', '.', '-'`,
    );
  }
  return value;
}

function checkFile(value: string, name: string, where: string): string {
  if (typeof value !== "string" || !/^\/[A-Za-z0-9_.+@/-]*[A-Za-z0-9_.+@-]$/.test(value) || value.split("/").includes("..")) {
    throw new ScriptInputError(`${where}: ${name} ${JSON.stringify(value)} is not valid: use an absolute path`);
  }
  return value;
}

function checkMarker(value: string, where: string): string {
  if (typeof value !== "string" || !/^c1m-lab:[A-Za-z0-9_.-]{1,64}$/.test(value)) {
    throw new ScriptInputError(`${where}: marker ${JSON.stringify(value)} is not valid: use c1m-lab:<stack>`);
  }
  return value;
}

// ---------------------------------------------------------------------------------------------
// The host network: bridge + tap, accept rules

export interface QemuNetworkOptions {
  bridge: string;
  tap: string;
  /** This machine's address on the bridge, with prefix (the lab subnet). */
  hostAddress: string;
  /** Set as the links' alias and the rules' comment: what carries it is the lab's to remove. */
  marker: string;
}

function network(opts: QemuNetworkOptions, where: string) {
  const bridge = checkIface(opts.bridge, "bridge", where);
  const tap = checkIface(opts.tap, "tap", where);
  if (bridge === tap) throw new ScriptInputError(`${where}: bridge and tap must differ (both are ${bridge})`);
  if (typeof opts.hostAddress !== "string" || !isIpv4Cidr(opts.hostAddress)) {
    throw new ScriptInputError(
      `${where}: hostAddress ${JSON.stringify(opts.hostAddress)} is not valid: use an address like 10.202.0.1/24`,
    );
  }
  const marker = checkMarker(opts.marker, where);
  const rule = (dir: "-i" | "-o") => `FORWARD ${dir} "$bridge" -m comment --comment "$marker" -j ACCEPT`;
  return {
    vars: [`bridge=${q(bridge)}`, `tap=${q(tap)}`, `hostaddr=${q(opts.hostAddress)}`, `marker=${q(marker)}`],
    rules: [rule("-i"), rule("-o")],
    // A link is ours when its alias is our marker (set right after creating it).
    ours: ['ours() { [ "$(cat "/sys/class/net/$1/ifalias" 2>/dev/null)" = "$marker" ]; }'],
  };
}

/**
 * Checks first (qemu, qemu-img, genisoimage, /dev/net/tun; the bridge and tap names free or
 * already the lab's; the lab subnet not routed through another interface), then creates the
 * bridge with this machine's lab address, the tap on it, and FORWARD accept rules for the bridge.
 */
export function qemuNetworkCreateScript(opts: QemuNetworkOptions): string {
  const n = network(opts, "qemuNetworkCreateScript");
  return script("qemu network create", [
    ...FAIL,
    ...n.vars,
    ...n.ours,
    '[ "$(id -u)" -eq 0 ] || fail "the qemu provider needs root on this machine (bridge, tap, iptables)"',
    `for c in ${QEMU_BINARY} qemu-img genisoimage ip iptables; do`,
    `  command -v "$c" >/dev/null 2>&1 || fail "$c is not installed on this machine: the qemu provider needs it (${INSTALL_HINT})"`,
    "done",
    '[ -c /dev/net/tun ] || fail "/dev/net/tun is missing: the VM\'s tap needs the tun module (modprobe tun)"',
    'for l in "$bridge" "$tap"; do',
    '  if ip link show dev "$l" >/dev/null 2>&1 && ! ours "$l"; then',
    '    fail "interface $l already exists on this machine and is not this lab\'s ($(ip -br link show dev "$l" | tr -s " ")): set server.bridge / server.tap to free names"',
    "  fi",
    "done",
    // `root`: routes inside the lab subnet (a Docker network or another lab already using it).
    'net=$(ip -4 route show root "$hostaddr" | grep -v " dev $bridge " || true)',
    '[ -z "$net" ] || fail "the lab subnet of $hostaddr is already routed on this machine ($net): pick another server.hostAddress subnet"',
    'if ! ip link show dev "$bridge" >/dev/null 2>&1; then',
    '  ip link add name "$bridge" type bridge',
    '  ip link set dev "$bridge" alias "$marker"',
    "fi",
    'ip addr replace "$hostaddr" dev "$bridge"',
    'ip link set dev "$bridge" up',
    'if ! ip link show dev "$tap" >/dev/null 2>&1; then',
    '  ip tuntap add dev "$tap" mode tap',
    '  ip link set dev "$tap" alias "$marker"',
    "fi",
    'ip link set dev "$tap" master "$bridge" up',
    ...n.rules.map((r) => `iptables -w -C ${r} 2>/dev/null || iptables -w -I ${r.replace(/^FORWARD/, "FORWARD 1")}`),
    'echo "c1m-lab: bridge $bridge ($hostaddr) with tap $tap ready"',
  ]);
}

/** Removes the rules, the tap and the bridge, each only when it carries the marker; idempotent. */
export function qemuNetworkDeleteScript(opts: QemuNetworkOptions): string {
  const n = network(opts, "qemuNetworkDeleteScript");
  return script("qemu network delete", [
    ...n.vars,
    ...n.ours,
    ...n.rules.map((r) => `while iptables -w -D ${r} 2>/dev/null; do :; done`),
    'for l in "$tap" "$bridge"; do',
    '  if ours "$l"; then ip link del dev "$l"; echo "c1m-lab: removed $l";',
    '  elif ip link show dev "$l" >/dev/null 2>&1; then echo "c1m-lab: $l is not this lab\'s: left in place";',
    "  fi",
    "done",
  ]);
}

// ---------------------------------------------------------------------------------------------
// The disk: base image (downloaded once), overlay, NoCloud seed

export interface QemuSeed {
  userData: string;
  metaData: string;
  networkConfig: string;
}

export interface QemuDiskOptions {
  /** The base image on this machine (for a URL: where the download is cached). */
  base: string;
  /** Set when the image is a URL: fetched into `base` once. */
  url?: string;
  /** The stack's directory for overlay and seed (0700). */
  dir: string;
  seed: QemuSeed;
}

function disk(opts: QemuDiskOptions, where: string) {
  const dir = checkFile(opts.dir, "dir", where);
  if (!/c1m/.test(dir.split("/").pop()!) && !dir.includes("/.c1m-lab/") && !dir.includes("/c1m-lab/")) {
    throw new ScriptInputError(
      `${where}: dir ${JSON.stringify(dir)} is not valid: the delete step removes it; use a lab directory like /var/lib/c1m-lab/<stack>/qemu`,
    );
  }
  return { dir, ...qemuDiskFiles(dir) };
}

export function qemuDiskFiles(dir: string): { overlay: string; seedIso: string; hostKey: string } {
  return { overlay: `${dir}/overlay.qcow2`, seedIso: `${dir}/seed.iso`, hostKey: `${dir}/ssh_host_ed25519_key` };
}

/**
 * Gets the base image (a URL is downloaded once into the cache path), then creates the stack's
 * overlay on it (the base is opened read-only and never written), a new ssh host key for the VM
 * beside it, and the NoCloud seed ISO (volume id `cidata`: user-data with the host key,
 * meta-data, network-config). Prints the public host key (scripts/hostKey.ts).
 */
export function qemuDiskCreateScript(opts: QemuDiskOptions): string {
  const where = "qemuDiskCreateScript";
  const d = disk(opts, where);
  const base = checkFile(opts.base, "base", where);
  if (opts.url !== undefined && !/^https?:\/\/[A-Za-z0-9._~:/?#@!$&()*+,;=%-]+$/.test(opts.url)) {
    throw new ScriptInputError(`${where}: url ${JSON.stringify(opts.url)} is not an http(s) URL`);
  }
  const files: [string, string][] = [
    ["user-data", opts.seed.userData],
    ["meta-data", opts.seed.metaData],
    ["network-config", opts.seed.networkConfig],
  ];
  return script("qemu disk create", [
    ...FAIL,
    `base=${q(base)}`,
    `dir=${q(d.dir)}`,
    `overlay=${q(d.overlay)}`,
    `seed=${q(d.seedIso)}`,
    `hostkey=${q(d.hostKey)}`,
    `command -v ssh-keygen >/dev/null 2>&1 || fail "ssh-keygen is not installed on this machine: it makes the VM's host key (apt-get install openssh-client)"`,
    ...(opts.url !== undefined
      ? [
          `url=${q(opts.url)}`,
          'if [ ! -f "$base" ]; then',
          '  command -v curl >/dev/null 2>&1 || fail "curl is not installed: it downloads server.image $url"',
          '  mkdir -p -- "$(dirname -- "$base")"',
          '  echo "c1m-lab: downloading $url (once; cached in $base)"',
          '  timeout 3600 curl -fsSL --retry 2 -o "$base.part" -- "$url" || { rm -f -- "$base.part"; fail "could not download server.image $url"; }',
          '  mv -f -- "$base.part" "$base"',
          "fi",
        ]
      : []),
    '[ -r "$base" ] || fail "server.image $base does not exist or is not readable"',
    // The overlay records the resolved path: a moved link (a rebuilt image) must not swap its base.
    'base=$(readlink -f -- "$base")',
    'fmt=$(timeout 60 qemu-img info -U -- "$base" | sed -n "s/^file format: //p")',
    'case "$fmt" in qcow2|raw) ;; *) fail "server.image $base is not a qcow2 or raw image (qemu-img says: ${fmt:-unreadable})" ;; esac',
    // The stack's directory is shared (the connection test's bundle is read from it): only ours is private.
    'mkdir -p -- "$(dirname -- "$dir")"',
    "umask 077",
    'mkdir -p -- "$dir/seed"',
    'rm -f -- "$overlay"',
    'timeout 60 qemu-img create -q -f qcow2 -F "$fmt" -b "$base" "$overlay"',
    ...files.map(([name, text]) => writeText(text, `"$dir/seed/"${q(name)}`)),
    ...seedHostKeyLines('"$dir/seed/user-data"'),
    'timeout 60 genisoimage -quiet -output "$seed.tmp" -volid cidata -joliet -rock "$dir/seed/user-data" "$dir/seed/meta-data" "$dir/seed/network-config"',
    'mv -f -- "$seed.tmp" "$seed"',
    'echo "c1m-lab: overlay $overlay on $base ($fmt), seed $seed"',
    PRINT_HOST_KEY,
  ]);
}

/** Removes the overlay, the seed and the stack's directory (the base image and download cache stay); idempotent. */
export function qemuDiskDeleteScript(opts: Pick<QemuDiskOptions, "dir">): string {
  const d = disk({ ...opts, base: "/", seed: { userData: "", metaData: "", networkConfig: "" } }, "qemuDiskDeleteScript");
  return script("qemu disk delete", [
    `dir=${q(d.dir)}`,
    // With the VM's own files (a start that failed leaves its log): the directory is the lab's.
    'rm -rf -- "$dir/seed" "$dir/overlay.qcow2" "$dir/seed.iso" "$dir/seed.iso.tmp" "$dir/ssh_host_ed25519_key" "$dir/ssh_host_ed25519_key.pub" "$dir/qemu.log" "$dir/console.log" "$dir/kvm-probe.log" "$dir/qemu.pid"',
    'rmdir -- "$dir" 2>/dev/null || true',
    // The stack's directory, then the lab's (/var/lib/c1m-lab) when nothing else is in them.
    'rmdir -- "$(dirname -- "$dir")" 2>/dev/null || true',
    'case "$(dirname -- "$(dirname -- "$dir")")" in */c1m-lab) rmdir -- "$(dirname -- "$(dirname -- "$dir")")" 2>/dev/null || true ;; esac',
    'echo "c1m-lab: removed the overlay and seed in $dir"',
  ]);
}

// ---------------------------------------------------------------------------------------------
// The seed's documents

/** user-data: one user with the lab's public key and passwordless sudo; no package installs (no network needed). */
export function qemuUserData(opts: { user: string; sshPublicKey: string }): string {
  const key = typeof opts.sshPublicKey === "string" ? opts.sshPublicKey.trim() : "";
  if (!SSH_PUBLIC_KEY.test(key)) {
    throw new ScriptInputError(
      `qemuUserData: sshPublicKey is not valid: use one public key line like 'ssh-ed25519 AAAA... comment' (the .pub file)`,
    );
  }
  if (typeof opts.user !== "string" || !/^[a-z_][a-z0-9_-]{0,31}$/.test(opts.user)) {
    throw new ScriptInputError(`qemuUserData: user ${JSON.stringify(opts.user)} is not a Unix user name`);
  }
  const doc = new Document({
    users: [
      {
        name: opts.user,
        groups: ["sudo"],
        sudo: "ALL=(ALL) NOPASSWD:ALL",
        shell: "/bin/bash",
        lock_passwd: true,
        ssh_authorized_keys: [key],
      },
    ],
  });
  return `#cloud-config\n${doc.toString({ lineWidth: 0 })}`;
}

/** network-config (netplan version 2): the NIC matched by its MAC, named `iface`, with the primary lab address. */
export function qemuNetworkConfig(opts: { iface: string; mac: string; address: string }): string {
  const iface = checkIface(opts.iface, "iface", "qemuNetworkConfig");
  if (!isMacAddress(opts.mac))
    throw new ScriptInputError(`qemuNetworkConfig: mac ${JSON.stringify(opts.mac)} is not a MAC address`);
  if (!isIpv4Cidr(opts.address))
    throw new ScriptInputError(`qemuNetworkConfig: address ${JSON.stringify(opts.address)} is not an address with prefix`);
  return new Document({
    version: 2,
    ethernets: { [iface]: { match: { macaddress: opts.mac.toLowerCase() }, "set-name": iface, addresses: [opts.address] } },
  }).toString();
}

export function qemuMetaData(opts: { instanceId: string; hostname: string }): string {
  for (const [k, v] of Object.entries(opts)) {
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(v))
      throw new ScriptInputError(`qemuMetaData: ${k} ${JSON.stringify(v)} is not valid: use a-z, 0-9, -`);
  }
  return `instance-id: ${opts.instanceId}\nlocal-hostname: ${opts.hostname}\n`;
}

// ---------------------------------------------------------------------------------------------
// The VM process

export interface QemuVmOptions {
  acceleration: "auto" | "kvm" | "tcg";
  cpus: number;
  memoryMiB: number;
  dir: string;
  tap: string;
  mac: string;
  /** Direct kernel boot; unset = the image's boot loader. */
  kernel?: { kernel: string; initrd: string; args: string };
  /** Seconds the KVM probe may take before KVM counts as not working. */
  kvmProbeSeconds?: number;
}

export function qemuVmFiles(dir: string): { pidFile: string; console: string; probe: string; log: string } {
  return { pidFile: `${dir}/qemu.pid`, console: `${dir}/console.log`, probe: `${dir}/kvm-probe.log`, log: `${dir}/qemu.log` };
}

// Our qemu is the process whose command line names our pid file.
const RUNNING = [
  'running() { local p; p=$(cat -- "$pidfile" 2>/dev/null) || return 1; [ -n "$p" ] && tr "\\0" " " < "/proc/$p/cmdline" 2>/dev/null | grep -F -- "-pidfile $pidfile " >/dev/null && echo "$p"; }',
];

/**
 * Starts the VM in the background (qemu -daemonize): overlay and seed as virtio disks, the NIC on
 * the tap, console on serial into console.log. acceleration auto: KVM only when a probe boot of
 * the firmware alone reaches its end within seconds (here /dev/kvm exists but guests hang in it),
 * else TCG; the choice is printed. Already running (same pid file): left as it is.
 */
export function qemuStartScript(opts: QemuVmOptions): string {
  const where = "qemuStartScript";
  if (!["auto", "kvm", "tcg"].includes(opts.acceleration))
    throw new ScriptInputError(`${where}: acceleration must be auto, kvm or tcg`);
  const dir = checkFile(opts.dir, "dir", where);
  const tap = checkIface(opts.tap, "tap", where);
  if (!isMacAddress(opts.mac)) throw new ScriptInputError(`${where}: mac ${JSON.stringify(opts.mac)} is not a MAC address`);
  const cpus = intIn(opts.cpus, "cpus", where, 1, 64);
  const mem = intIn(opts.memoryMiB, "memoryMiB", where, 128, 1_048_576);
  const probeSeconds = intIn(opts.kvmProbeSeconds ?? 10, "kvmProbeSeconds", where, 1, 120);
  const f = { ...qemuVmFiles(dir), ...qemuDiskFiles(dir) };
  const boot: string[] = [];
  if (opts.kernel) {
    const kernel = checkFile(opts.kernel.kernel, "kernel", where);
    const initrd = checkFile(opts.kernel.initrd, "initrd", where);
    if (!/^[A-Za-z0-9_.,:=/ -]{1,512}$/.test(opts.kernel.args))
      throw new ScriptInputError(`${where}: kernel args ${JSON.stringify(opts.kernel.args)} are not valid`);
    boot.push("-kernel", kernel, "-initrd", initrd, "-append", opts.kernel.args);
  }
  const argv = [
    QEMU_BINARY,
    "-name",
    `c1m-lab,process=c1m-lab-${tap}`,
    "-machine",
    "pc",
    "-smp",
    String(cpus),
    "-m",
    String(mem),
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    "-monitor",
    "none",
    "-serial",
    `file:${f.console}`,
    "-drive",
    `file=${f.overlay},if=virtio,format=qcow2,discard=unmap`,
    "-drive",
    `file=${f.seedIso},if=virtio,format=raw,readonly=on`,
    "-netdev",
    `tap,id=n0,ifname=${tap},script=no,downscript=no`,
    "-device",
    `virtio-net-pci,netdev=n0,mac=${opts.mac.toLowerCase()}`,
    // Entropy for the guest's first boot (host keys, Python's getrandom): without it TCG boots stall.
    "-device",
    "virtio-rng-pci",
    ...boot,
  ];
  return script("qemu start", [
    ...FAIL,
    `pidfile=${q(f.pidFile)}`,
    `console=${q(f.console)}`,
    `probe=${q(f.probe)}`,
    `log=${q(f.log)}`,
    `want=${q(opts.acceleration)}`,
    ...RUNNING,
    'if p=$(running); then echo "c1m-lab: the VM is already running (pid $p)"; exit 0; fi',
    `command -v ${QEMU_BINARY} >/dev/null 2>&1 || fail "${QEMU_BINARY} is not installed on this machine (${INSTALL_HINT})"`,
    `for f in ${[f.overlay, f.seedIso, ...(opts.kernel ? [opts.kernel.kernel, opts.kernel.initrd] : [])].map(q).join(" ")}; do`,
    '  [ -r "$f" ] || fail "$f is missing: the disk step makes the overlay and seed"',
    "done",
    // The firmware alone, with no disk and the CPU the VM gets: under working KVM it prints "No
    // bootable device" at once; here `-cpu host` aborts (an MSR KVM refuses) or the firmware hangs.
    "kvm_works() {",
    "  [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1",
    '  rm -f -- "$probe"',
    // qemu itself in the background (not under `timeout`): its own pid is what gets killed.
    `  ${QEMU_BINARY} -accel kvm -cpu host -machine pc -m 64 -nodefaults -no-user-config -display none -no-reboot \\`,
    '    -chardev file,path="$probe",id=dbg -device isa-debugcon,iobase=0x402,chardev=dbg >/dev/null 2>&1 &',
    "  local pid=$! i ok=1",
    `  for i in $(seq 1 ${probeSeconds * 5}); do`,
    '    if grep -q "No bootable device" "$probe" 2>/dev/null; then ok=0; break; fi',
    '    kill -0 "$pid" 2>/dev/null || break',
    "    sleep 0.2",
    "  done",
    '  kill -9 "$pid" 2>/dev/null || true',
    '  wait "$pid" 2>/dev/null || true',
    '  rm -f -- "$probe"',
    "  return $ok",
    "}",
    'case "$want" in',
    `  tcg) accel=(-accel tcg,thread=multi -cpu max); why="as configured" ;;`,
    `  kvm) kvm_works || fail "acceleration kvm: KVM does not run guests on this machine (/dev/kvm missing, not accessible, or the probe boot hung for ${probeSeconds}s); use acceleration tcg or auto"`,
    '       accel=(-accel kvm -cpu host); why="as configured" ;;',
    '  auto) if kvm_works; then accel=(-accel kvm -cpu host); why="auto: the KVM probe boot ran"',
    `        else accel=(-accel tcg,thread=multi -cpu max); why="auto: KVM does not run guests here (no usable /dev/kvm, or its probe boot failed or hung for ${probeSeconds}s)"; fi ;;`,
    "esac",
    'rm -f -- "$console"',
    // Its output to a file: a daemon holding the Command's stdout open would keep the step waiting.
    `if ! timeout 60 ${cmd(...argv)} "\${accel[@]}" -daemonize -pidfile "$pidfile" > "$log" 2>&1; then`,
    '  cat -- "$log" >&2',
    '  fail "qemu did not start"',
    "fi",
    'p=$(running) || fail "qemu started but is not running; see $console"',
    // The token the next `up` reads back while this VM runs (infra/instance.ts).
    `${PRINT_INSTANCE_TOKEN} > ${q(`${dir}/instance`)}`,
    'echo "c1m-lab: VM started with ${accel[1]%%,*} ($why), pid $p, console $console"',
  ]);
}

/** Prints the running VM's instance token; nothing when the VM is not running (killed, rebooted). Read-only. */
export function qemuInstanceScript(opts: Pick<QemuVmOptions, "dir">): string {
  const dir = checkFile(opts.dir, "dir", "qemuInstanceScript");
  return script("qemu instance", [
    `pidfile=${q(qemuVmFiles(dir).pidFile)}`,
    ...RUNNING,
    `if running >/dev/null && [ -f ${q(`${dir}/instance`)} ]; then head -c 200 ${q(`${dir}/instance`)}; fi`,
  ]);
}

/** Stops the VM (TERM, then KILL after 20 s) when the pid file names our qemu; removes pid file, console log and instance token; idempotent. */
export function qemuStopScript(opts: { dir: string }): string {
  const dir = checkFile(opts.dir, "dir", "qemuStopScript");
  const f = qemuVmFiles(dir);
  return script("qemu stop", [
    `pidfile=${q(f.pidFile)}`,
    `console=${q(f.console)}`,
    `log=${q(f.log)}`,
    ...RUNNING,
    "if p=$(running); then",
    '  kill -TERM "$p" 2>/dev/null || true',
    "  for _ in $(seq 1 100); do running >/dev/null || break; sleep 0.2; done",
    '  if running >/dev/null; then kill -KILL "$p" 2>/dev/null || true; sleep 0.5; fi',
    '  echo "c1m-lab: stopped the VM (pid $p)"',
    "else",
    '  echo "c1m-lab: the VM is not running"',
    "fi",
    `rm -f -- "$pidfile" "$console" "$log" ${q(`${dir}/instance`)}`,
  ]);
}

function intIn(value: number, name: string, where: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ScriptInputError(
      `${where}: ${name} ${JSON.stringify(value)} is not valid: use a whole number from ${min} to ${max}`,
    );
  }
  return value;
}
