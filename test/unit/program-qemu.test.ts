// The compiled entry point under Pulumi's mocks for Pulumi.qemu.example.yaml: the qemu host's resources
// (bridge and tap → overlay and seed → VM → ssh wait → upload directory), their order, what each
// script does and undoes, the cloud-init seed, and that the VM steps after it are the ssh
// provider's (drop-in with the secondaries only, sysctls, unit). Expected values are literals.
import { after, before, describe, test } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { pulumiConfigJson, readStackConfig } from "../../infra/config/stackFile.js";
import { isSecretValue, remoteBody, runProgram, upstreamTriggers, type ProgramRun } from "../support/mockProgram.js";
import { assertBashSyntax } from "../support/sh.js";
import { PINNED_ROW, clientGraph, sshHostGraph, VM_SERVER_GRAPH } from "../support/vmLab.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nc1mLabQemuKeyStandIn\n-----END OPENSSH PRIVATE KEY-----\n";
const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC1mTestKeyForUnitTestsOnly000000000000000000 c1m-test";
const b64 = (s: string) => Buffer.from(s).toString("base64");
/** What the probe prints on the VM: cloud-init's netplan file from our seed. The MAC is sha256("qemu/c1m-tap0")'s first 3 bytes. */
const PROBE = JSON.stringify({
  files: [
    {
      pathBase64: b64("/etc/netplan/50-cloud-init.yaml"),
      textBase64: b64(
        "network:\n    ethernets:\n        eth0:\n            addresses:\n            - 10.202.0.2/24\n            match:\n                macaddress: 52:54:00:1e:f6:1b\n            set-name: eth0\n    version: 2\n",
      ),
    },
  ],
  links: [
    { nameBase64: b64("lo"), mac: "00:00:00:00:00:00" },
    { nameBase64: b64("eth0"), mac: "52:54:00:1e:f6:1b" },
  ],
});

let home = "";
let savedHome: string | undefined;
before(() => {
  home = mkdtempSync(join(tmpdir(), "c1m-home-"));
  mkdirSync(`${home}/.ssh`);
  writeFileSync(`${home}/.ssh/id_ed25519.pub`, `${PUBLIC_KEY}\n`);
  savedHome = process.env.HOME;
  process.env.HOME = home;
});
after(() => {
  if (savedHome === undefined) delete process.env.HOME;
  else process.env.HOME = savedHome;
  rmSync(home, { recursive: true, force: true });
});

/** The VM's public host key, as the disk step prints it (the mocks' stand-in for ssh-keygen's). */
const VM_HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdi/c0CZgWbbgxbqHfeGdS1NoUzv4ElW5QLW4aWStYc";
const DISK_STDOUT = `c1m-lab: overlay x on y (qcow2), seed z\nc1m-lab: ssh host key ${VM_HOST_KEY}\n`;

function run(server: Record<string, unknown> = {}, withKey = true, disk: string = DISK_STDOUT): Promise<ProgramRun> {
  const config = pulumiConfigJson(root, "qemu", { shipped: true });
  config["c1m-lab:server"] = JSON.stringify({
    ...(readStackConfig(root, "qemu", { shipped: true }).server as object),
    ...server,
  });
  if (withKey) config["c1m-lab:sshPrivateKey"] = PRIVATE_KEY;
  return runProgram(config, {
    stack: "qemu",
    secretKeys: ["c1m-lab:sshPrivateKey"],
    stdout: (name) =>
      name.endsWith("-probe")
        ? PROBE
        : name.endsWith("-staging")
          ? "/home/c1m/.c1m-lab/qemu"
          : name === "server-host-disk"
            ? disk
            : undefined,
  });
}

describe("stack qemu", () => {
  let r: ProgramRun;
  const script = (name: string, key: "create" | "delete") => String(r.byName(name).inputs[key]);
  before(async () => {
    r = await run();
    assert.equal(r.error, undefined, String(r.error));
  });

  test("resource graph: the qemu host, then the same VM steps as ssh and multipass", () => {
    assert.deepEqual(
      r.resources.map((x) => [x.name, x.type, x.parent ?? null]),
      [
        ["lab", "c1m-lab:index:Lab", null],
        ["server-host", "c1m-lab:server:QemuServerHost", "lab"],
        ["server-host-network", "command:local:Command", "server-host"],
        ["server-host-disk", "command:local:Command", "server-host"],
        ["server-host-vm", "command:local:Command", "server-host"],
        ["server-host-ssh", "c1m-lab:server:VmServerHost", "server-host"],
        ...sshHostGraph("server-host-ssh"),
        ...VM_SERVER_GRAPH,
        ...clientGraph("qemu", 3),
        PINNED_ROW,
      ],
    );
    assert.ok(r.resources.every((x) => x.registered));
  });

  test("what runs on the VM is deleted with its disk (no dialing a VM that is being removed); local steps are not", () => {
    const remote = r.resources.filter((x) => x.type.startsWith("command:remote:"));
    assert.ok(remote.length >= 6, remote.map((x) => x.name).join(", "));
    for (const x of remote) assert.equal(x.deletedWith, "server-host-disk", x.name);
    for (const name of ["tuning-nat-host", "clients-nat-pool", "clients-stop", "server-host-vm", "server-host-network"]) {
      assert.equal(r.byName(name).deletedWith, undefined, name);
    }
  });

  test("order: network → disk → VM → ssh wait (on the primary lab address) → upload directory; destroy undoes in reverse", () => {
    const deps = (n: string) => r.byName(n).dependsOn;
    const triggers = (n: string) => upstreamTriggers(r.byName(n).inputs.triggers);
    assert.deepEqual(deps("server-host-network"), []);
    assert.deepEqual(deps("server-host-disk"), ["server-host-network"]);
    assert.deepEqual(deps("server-host-vm"), ["server-host-network", "server-host-disk"]);
    assert.deepEqual(
      triggers("server-host-vm"),
      ["server-host-network_id", "server-host-disk_id"],
      "a new bridge or disk reboots the VM",
    );
    assert.deepEqual(deps("server-host-ssh"), ["server-host-vm"]);
    assert.deepEqual(triggers("server-host-ssh-wait"), ["10.202.0.2", 22, "c1m", "server-host-vm_id"]);
    assert.deepEqual(triggers("secondary-ips-probe"), ["server-host-ssh-wait_id"]);
    assert.deepEqual(deps("secondary-ips"), ["server-host"]);
    for (const n of ["server-host-network", "server-host-disk", "server-host-vm"]) {
      assert.equal(r.byName(n).deleteBeforeReplace, true, n);
      assert.deepEqual(r.byName(n).inputs.interpreter, ["/bin/bash", "-c"]);
      assertBashSyntax(script(n, "create"), `${n} create`);
      assertBashSyntax(script(n, "delete"), `${n} delete`);
    }
  });

  test("network: checks before creating, then bridge with the host's lab address, tap, FORWARD accept rules; delete only what carries the marker", () => {
    const create = script("server-host-network", "create");
    const lines = create.split("\n");
    const first = lines.findIndex((l) => l.includes("ip link add"));
    for (const check of [
      "for c in qemu-system-x86_64 qemu-img genisoimage ip iptables; do",
      "[ -c /dev/net/tun ]",
      "is not this lab's",
      'ip -4 route show root "$hostaddr"',
    ]) {
      const at = lines.findIndex((l) => l.includes(check));
      assert.ok(at >= 0 && at < first, `${check} comes before anything is created`);
    }
    for (const line of [
      "bridge=c1m-br0",
      "tap=c1m-tap0",
      "hostaddr=10.202.0.1/24",
      "marker=c1m-lab:qemu",
      '  ip link add name "$bridge" type bridge',
      '  ip link set dev "$bridge" alias "$marker"',
      '  ip tuntap add dev "$tap" mode tap',
      'ip link set dev "$tap" master "$bridge" up',
      'iptables -w -C FORWARD -i "$bridge" -m comment --comment "$marker" -j ACCEPT 2>/dev/null || iptables -w -I FORWARD 1 -i "$bridge" -m comment --comment "$marker" -j ACCEPT',
      'iptables -w -C FORWARD -o "$bridge" -m comment --comment "$marker" -j ACCEPT 2>/dev/null || iptables -w -I FORWARD 1 -o "$bridge" -m comment --comment "$marker" -j ACCEPT',
    ]) {
      assert.ok(lines.includes(line), line);
    }
    const del = script("server-host-network", "delete").split("\n");
    for (const line of [
      'while iptables -w -D FORWARD -i "$bridge" -m comment --comment "$marker" -j ACCEPT 2>/dev/null; do :; done',
      'while iptables -w -D FORWARD -o "$bridge" -m comment --comment "$marker" -j ACCEPT 2>/dev/null; do :; done',
      '  if ours "$l"; then ip link del dev "$l"; echo "c1m-lab: removed $l";',
    ]) {
      assert.ok(del.includes(line), line);
    }
  });

  test("disk: overlay on the resolved base (never written), the NoCloud seed (cidata) with the user's key, the VM's new host key and the primary address", () => {
    const create = script("server-host-disk", "create");
    const lines = create.split("\n");
    const cache = `${home}/.cache/c1m-lab/vm-image/current`;
    const dir = "/var/lib/c1m-lab/qemu/qemu";
    for (const line of [
      `base=${cache}/disk.qcow2`,
      `dir=${dir}`,
      'base=$(readlink -f -- "$base")',
      'mkdir -p -- "$(dirname -- "$dir")"',
      "umask 077",
      'timeout 60 qemu-img create -q -f qcow2 -F "$fmt" -b "$base" "$overlay"',
      'timeout 60 genisoimage -quiet -output "$seed.tmp" -volid cidata -joliet -rock "$dir/seed/user-data" "$dir/seed/meta-data" "$dir/seed/network-config"',
      `printf '%s\\n' '#cloud-config' users: '  - name: c1m' '    groups:' '      - sudo' '    sudo: ALL=(ALL) NOPASSWD:ALL' '    shell: /bin/bash' '    lock_passwd: true' '    ssh_authorized_keys:' '      - ${PUBLIC_KEY}' > "$dir/seed/"user-data`,
      // The host key: made here, beside the overlay, into the seed's user-data; only its public half printed.
      `hostkey=${dir}/ssh_host_ed25519_key`,
      'rm -f -- "$hostkey" "$hostkey.pub"',
      '(umask 077; timeout 60 ssh-keygen -q -t ed25519 -N "" -C "" -f "$hostkey" </dev/null)',
      'pub=$(cut -d " " -f 1,2 < "$hostkey.pub")',
      "  printf '%s\\n' 'ssh_deletekeys: true' 'ssh_keys:' '  ed25519_private: |'",
      "  sed 's/^/    /' \"$hostkey\"",
      "  printf '  ed25519_public: %s\\n' \"$pub\"",
      '} >> "$dir/seed/user-data"',
      `printf '%s%s\\n' 'c1m-lab: ssh host key ' "$pub"`,
      `printf '%s\\n' 'instance-id: c1m-qemu-1ef61b' 'local-hostname: c1m-qemu' > "$dir/seed/"meta-data`,
      `printf '%s\\n' 'version: 2' ethernets: '  eth0:' '    match:' '      macaddress: 52:54:00:1e:f6:1b' '    set-name: eth0' '    addresses:' '      - 10.202.0.2/24' > "$dir/seed/"network-config`,
    ]) {
      assert.ok(lines.includes(line), line);
    }
    // The key goes into the user-data after it is written, before the seed ISO is made of it.
    assert.ok(lines.indexOf('} >> "$dir/seed/user-data"') > lines.findIndex((l) => l.endsWith('> "$dir/seed/"user-data')));
    assert.ok(lines.indexOf('} >> "$dir/seed/user-data"') < lines.findIndex((l) => l.startsWith("timeout 60 genisoimage")));
    assert.ok(!create.includes("curl"), "a local image is not downloaded");
    assert.equal(
      script("server-host-disk", "delete"),
      [
        "#!/usr/bin/env bash",
        "set -euo pipefail",
        `trap 'echo "c1m-lab: qemu disk delete failed at line $LINENO" >&2' ERR`,
        `dir=${dir}`,
        'rm -rf -- "$dir/seed" "$dir/overlay.qcow2" "$dir/seed.iso" "$dir/seed.iso.tmp" "$dir/ssh_host_ed25519_key" "$dir/ssh_host_ed25519_key.pub" "$dir/qemu.log" "$dir/console.log" "$dir/kvm-probe.log" "$dir/qemu.pid"',
        'rmdir -- "$dir" 2>/dev/null || true',
        'rmdir -- "$(dirname -- "$dir")" 2>/dev/null || true',
        'case "$(dirname -- "$(dirname -- "$dir")")" in */c1m-lab) rmdir -- "$(dirname -- "$(dirname -- "$dir")")" 2>/dev/null || true ;; esac',
        'echo "c1m-lab: removed the overlay and seed in $dir"',
        "",
      ].join("\n"),
    );
  });

  test("an image URL is downloaded once into the cache, keyed by the URL", async () => {
    const url = "https://cloud-images.example.org/releases/noble/disk.img";
    const u = await run({ image: url, kernel: undefined, initrd: undefined });
    assert.equal(u.error, undefined, String(u.error));
    const lines = String(u.byName("server-host-disk").inputs.create).split("\n");
    assert.ok(lines.includes(`base=${home}/.cache/c1m-lab/images/a5d5d3cf0dabcfd9/disk.img`), lines.slice(0, 8).join("\n"));
    assert.ok(lines.includes(`url=${url}`));
    assert.ok(
      lines.includes(
        '  timeout 3600 curl -fsSL --retry 2 -o "$base.part" -- "$url" || { rm -f -- "$base.part"; fail "could not download server.image $url"; }',
      ),
    );
    assert.ok(!String(u.byName("server-host-vm").inputs.create).includes("-kernel"), "no kernel given: the image's boot loader");
  });

  test("VM: qemu with the overlay, seed, tap and MAC, direct kernel boot, KVM only when its probe boot runs; stop on destroy", () => {
    const create = script("server-host-vm", "create");
    const dir = "/var/lib/c1m-lab/qemu/qemu";
    const cache = `${home}/.cache/c1m-lab/vm-image/current`;
    assert.ok(
      create.includes(
        `timeout 60 qemu-system-x86_64 -name c1m-lab,process=c1m-lab-c1m-tap0 -machine pc -smp 2 -m 2048 -nodefaults -no-user-config -display none -monitor none -serial file:${dir}/console.log -drive file=${dir}/overlay.qcow2,if=virtio,format=qcow2,discard=unmap -drive file=${dir}/seed.iso,if=virtio,format=raw,readonly=on -netdev tap,id=n0,ifname=c1m-tap0,script=no,downscript=no -device virtio-net-pci,netdev=n0,mac=52:54:00:1e:f6:1b -device virtio-rng-pci -kernel ${cache}/vmlinuz -initrd ${cache}/initrd.img -append 'root=/dev/vda rw console=ttyS0 net.ifnames=0' "\${accel[@]}" -daemonize -pidfile "$pidfile"`,
      ),
    );
    for (const line of [
      "want=auto",
      '    if grep -q "No bootable device" "$probe" 2>/dev/null; then ok=0; break; fi',
      '  auto) if kvm_works; then accel=(-accel kvm -cpu host); why="auto: the KVM probe boot ran"',
    ]) {
      assert.ok(create.split("\n").includes(line), line);
    }
    // The instance token: stored once the VM runs; the live one (or a new one) comes in the environment.
    assert.ok(create.split("\n").includes(`printf '%s\\n' "\${C1M_HOST_INSTANCE:-unmanaged}" > ${dir}/instance`));
    assert.deepEqual(Object.keys(r.byName("server-host-vm").inputs.environment as object), ["C1M_HOST_INSTANCE"]);
    const del = script("server-host-vm", "delete").split("\n");
    assert.ok(del.includes(`pidfile=${dir}/qemu.pid`));
    assert.ok(del.includes('  kill -TERM "$p" 2>/dev/null || true'));
  });

  test("the VM steps: ssh to 10.202.0.2 as c1m with the secret key, pinned to the disk step's host key; the drop-in adds only the secondaries", async () => {
    const wait = r.byName("server-host-ssh-wait");
    assert.ok(isSecretValue(wait.inputs.environment));
    assert.match(String(wait.inputs.create), /^host=10\.202\.0\.2$/m);
    assert.match(String(wait.inputs.create), /^user=c1m$/m);
    assert.match(String(wait.inputs.create), new RegExp(`^hostkey='${VM_HOST_KEY}'$`, "m"));
    assert.match(
      String(wait.inputs.create),
      /^opts\+=\(-o StrictHostKeyChecking=yes -o UserKnownHostsFile="\$tmpd\/known_hosts"\)$/m,
    );
    // Every remote step pins it (the connection is secret by @pulumi/command's own doing; what it holds is ours).
    for (const x of r.resources.filter((y) => y.type.startsWith("command:remote:"))) {
      const connection = x.inputs.connection;
      const conn = (isSecretValue(connection) ? connection.value : connection) as Record<string, unknown>;
      assert.deepEqual(
        { host: conn.host, user: conn.user, port: conn.port, privateKey: conn.privateKey, hostKey: conn.hostKey },
        { host: "10.202.0.2", user: "c1m", port: 22, privateKey: PRIVATE_KEY, hostKey: VM_HOST_KEY },
        x.name,
      );
    }
    const text = String(r.byName("secondary-ips-drop-in").inputs.stdin);
    assert.deepEqual(parse(text), {
      network: { version: 2, ethernets: { eth0: { addresses: ["10.202.0.3/24", "10.202.0.4/24"] } } },
    });
    assert.match(
      remoteBody(script("secondary-ips-netplan", "delete"), 300),
      /^addresses=\(10\.202\.0\.3\/24 10\.202\.0\.4\/24\)$/m,
    );
    assert.match(script("clients-nat-pool", "create"), /-d 10\.202\.0\.4\/32 -p tcp .* -j MASQUERADE --to-ports 40000-40999/);
    assert.equal(r.outputs.metricsUrl, "http://127.0.0.1:9100", "on the VM's loopback");
    // The test reads them through ssh: same user, pinned key, and the private key as a secret environment variable.
    const verify = r.byName("connection-test-verify");
    assert.match(
      String(verify.inputs.create),
      new RegExp(
        `/c1m-verify\\.mjs --metrics-url http://127\\.0\\.0\\.1:9100 .* --metrics-ssh c1m@10\\.202\\.0\\.2:22 --metrics-ssh-host-key '${VM_HOST_KEY}' > "\\$report"$`,
        "m",
      ),
    );
    const env = verify.inputs.environment;
    assert.ok(isSecretValue(env), "the environment holds a secret");
    assert.deepEqual(Object.keys(env.value as object).sort(), ["C1M_PLAN", "C1M_SSH_PRIVATE_KEY"]);
    assert.equal((env.value as Record<string, unknown>).C1M_SSH_PRIVATE_KEY, PRIVATE_KEY);
    assert.equal(r.outputs.verdict, "pass", "the report is read as ever");
    for (const x of r.resources) {
      const plainText = JSON.stringify(x.inputs, (_k, v: unknown) => (isSecretValue(v) ? "[secret]" : v));
      assert.ok(!plainText.includes("c1mLabQemuKeyStandIn"), `${x.name}: the key outside a secret`);
    }
  });
});

test("a disk step that printed no host key: the update fails naming it; no remote step is registered", async () => {
  const r = await run({}, true, "c1m-lab: overlay x on y (qcow2), seed z\n");
  assert.ok(pulumi.RunError.isInstance(r.error), String(r.error));
  // The SDK prefixes the properties the failed value was on ("error serializing property ...").
  assert.match(
    (r.error as Error).message,
    /: c1m-lab: server-host-disk printed no ssh host key line \("c1m-lab: ssh host key ssh-ed25519 AAAA\.\.\."\): the VM's host key cannot be pinned$/,
  );
  assert.deepEqual(
    r.resources
      .filter((x) => x.registered && (x.type.startsWith("command:remote:") || x.name === "server-host-ssh-wait"))
      .map((x) => x.name),
    [],
  );
});

describe("qemu faults stop before anything is created", () => {
  test("no private key: nothing registered", async () => {
    const r = await run({}, false);
    assert.ok(pulumi.RunError.isInstance(r.error));
    assert.match((r.error as Error).message, /server\.provider qemu needs the ssh private key as a secret/);
    assert.deepEqual(r.resources, []);
  });

  test("an unreadable public key: named, nothing registered", async () => {
    const r = await run({ sshPublicKeyPath: "~/.ssh/nope.pub" });
    assert.ok(pulumi.RunError.isInstance(r.error));
    assert.match(
      (r.error as Error).message,
      /server\.sshPublicKeyPath: cannot read .*\/\.ssh\/nope\.pub \(ENOENT\): the qemu VM gets this public key/,
    );
    assert.deepEqual(r.resources, []);
  });
});
