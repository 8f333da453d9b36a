// The VM path for real: a Debian VM (`npm run vm:image`) booted here with qemu under TCG, where
// `netplan apply`, systemd and sysctl.d are the real ones. The Pulumi engine cannot be built on
// these machines (the Go module proxy refuses the command and docker providers), so the program
// runs under Pulumi's mocks with test/support/realEngine.ts making every registered resource for
// real: the very scripts the Commands carry, run locally with bash and on the VM over ssh, and
// the client containers through this machine's NAT with a narrowed pool (1,000 ports, 2,550
// connections over 3 server IPs). Two stacks:
//   - `ssh` adopting a VM the test booted itself: after destroy the VM runs on, as it was before;
//   - `qemu`: the provider boots the VM; destroy leaves nothing of the lab on this machine.
// Both pin the VM's host key (the one its disk step made and put in the seed): every ssh hop, the
// connection test's tunnel to the metrics included, and a wrong key is refused. On both the server
// listens on the lab's addresses only (never the adopted host's own primary, never 0.0.0.0) and its
// metrics on the VM's loopback, as `ss -ltn` in the VM shows.
// Traffic: only to the VMs' addresses on the test's own bridges, and to the test's containers.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, test } from "node:test";
import { readHostFacts } from "../../infra/plan/readFacts.js";
import type { ImageFiles } from "../../infra/server/vm/qemu/image.js";
import { ensureLocalNodeBase } from "../../infra/direct/localBase.js";
import { runProgram, type ProgramRun } from "../support/mockProgram.js";
import { freeSubnet, keyPair, requireVmTools, TestVm } from "../support/qemuVm.js";
import { RealEngine, run } from "../support/realEngine.js";
import { waitForSshScript } from "../../infra/server/vm/scripts/ssh.js";
import { hostKeyFrom } from "../../infra/server/vm/scripts/hostKey.js";
import { openSshTunnel, SshTunnelError } from "../../workload/verify/sshTunnel.js";
import {
  qemuDiskCreateScript,
  qemuDiskDeleteScript,
  qemuNetworkCreateScript,
  qemuNetworkDeleteScript,
} from "../../infra/server/vm/qemu/scripts.js";

const root = fileURLToPath(new URL("../../../", import.meta.url)).replace(/\/$/, "");
const id = process.pid % 1000;
const log = (line: string) => process.stderr.write(`# ${line}\n`);

let image: ImageFiles;
let tmp = "";
let key: ReturnType<typeof keyPair>;
let baseImage = "";

/** The clients of both stacks: 3 containers × 850, container i → server address i, NAT pool 40000-40999. */
function clients(subnet: string) {
  return {
    containers: 3,
    connectionsPerContainer: 850,
    assignment: "per-container",
    natPortRange: "40000-40999",
    connectRate: 1000,
    subnet,
    baseImage,
  };
}
const TEST = { expect: "all", timeoutSeconds: 180, stallSeconds: 20 };

async function up(stack: string, config: Record<string, unknown>, engine: RealEngine): Promise<ProgramRun> {
  const wire = Object.fromEntries(Object.entries(config).map(([k, v]) => [`c1m-lab:${k}`, JSON.stringify(v)]));
  wire["c1m-lab:sshPrivateKey"] = key.privateKey;
  return runProgram(wire, { stack, facts: readHostFacts(), secretKeys: ["c1m-lab:sshPrivateKey"], create: engine.create });
}

/** What must be gone from this machine after a destroy (the clients' side, both stacks). */
function assertNoClientResidue(stack: string, conntrackMax: string) {
  const sh = (cmd: string) => execFileSync("/bin/bash", ["-c", cmd], { encoding: "utf8" });
  assert.equal(sh(`docker ps -aq --filter label=c1m-lab.stack=${stack}`).trim(), "", "containers removed");
  assert.equal(sh(`docker network ls -q --filter label=c1m-lab.stack=${stack}`).trim(), "", "networks removed");
  assert.equal(sh(`docker image ls -q c1m-lab-client:${stack}`).trim(), "", "client image removed");
  assert.ok(!sh("iptables -t nat -S POSTROUTING").includes(`c1m-lab:${stack}`), "NAT pool rules removed");
  assert.equal(sh("sysctl -n net.netfilter.nf_conntrack_max").trim(), conntrackMax, "conntrack limit restored");
  assert.equal(existsSync(`/run/c1m-lab/${stack}`), false, "state removed");
}

/** Each of the three server addresses `subnet.<last>` holds one container's 850. */
function assertPass(r: ProgramRun, subnet: string, last: number[]) {
  assert.equal(r.error, undefined, String((r.error as Error | undefined)?.message ?? r.error));
  assert.equal(r.outputs.verdict, "pass", String(r.outputs.diagnosis));
  assert.equal(r.outputs.total, 2550);
  assert.deepEqual(r.outputs.perServerIp, Object.fromEntries(last.map((n) => [`${subnet}.${n}`, 850])));
}

/** What listens on the server's ports in the VM (`ss -ltn`): "address:port", sorted. */
async function serverListeners(vm: TestVm): Promise<string[]> {
  const r = await vm.ssh("ss -ltnH");
  assert.equal(r.code, 0, r.stderr);
  return r.stdout
    .split("\n")
    .map((l) => l.trim().split(/\s+/)[3] ?? "")
    .filter((a) => /:(9000|9100)$/.test(a))
    .sort();
}

/** A TCP connect from this machine: "open", or why not ("ECONNREFUSED" = nothing listens there). */
function probe(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 5000 });
    s.on("connect", () => (s.destroy(), resolve("open")));
    s.on("timeout", () => (s.destroy(), resolve("timeout")));
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
  });
}

/** (a) The VM offers the pinned key (the disk step's) to anyone who asks: ssh-keyscan's view, not the lab's. */
function assertPresents(vm: TestVm): void {
  const scanned = execFileSync("ssh-keyscan", ["-t", "ed25519", vm.address], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "ignore"],
  });
  assert.equal(scanned.trim(), `${vm.address} ${vm.hostKey}`);
}

/** Another valid ed25519 key: what a different machine at the VM's address would present. */
function otherKey(dir: string): string {
  rmSync(`${dir}/other_host_key`, { force: true }); // a new one each call (ssh-keygen asks before overwriting)
  rmSync(`${dir}/other_host_key.pub`, { force: true });
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "", "-f", `${dir}/other_host_key`]);
  return readFileSync(`${dir}/other_host_key.pub`, "utf8").split(" ").slice(0, 2).join(" ");
}

/** (b) Every ssh client of the lab refuses the VM when the pinned key is another: the wait step at once, the test's tunnel too. */
async function assertWrongKeyRefused(vm: TestVm, keyPath: string, wrong: string): Promise<void> {
  const started = Date.now();
  const wait = await run([
    "/bin/bash",
    "-c",
    waitForSshScript({ host: vm.address, port: 22, user: "c1m", timeoutSeconds: 120, keyPath, hostKey: wrong }),
  ]);
  assert.notEqual(wait.code, 0);
  assert.match(
    wait.stderr,
    new RegExp(
      `c1m-lab: ssh c1m@${vm.address.replace(/\./g, "\\.")}:22 does not present the pinned host key ${wrong.replace(/[+/.]/g, "\\$&")}: refused, not retried .*Host key verification failed`,
    ),
  );
  assert.ok(Date.now() - started < 30_000, `refused at once, not retried for 120 s (${Date.now() - started} ms)`);
  await assert.rejects(
    openSshTunnel(
      { user: "c1m", host: vm.address, port: 22, hostKey: wrong },
      { host: "127.0.0.1", port: 9100 },
      {
        privateKey: readFileSync(keyPath, "utf8"),
      },
    ),
    (e: Error) =>
      e instanceof SshTunnelError && / presented host key SHA256:\S+, not the pinned SHA256:\S+: refused$/.test(e.message),
  );
}

describe("qemu host checks: a clear error before anything is created", () => {
  const net = (bridge: string, tap: string) => ({
    bridge,
    tap,
    hostAddress: "10.205.77.1/24",
    marker: `c1m-lab:qemut-check-${id}`,
  });
  const sh = (cmd: string) => execFileSync("/bin/bash", ["-c", cmd], { encoding: "utf8" });
  const untouched = (tap: string) => {
    assert.equal(sh(`ip -o link show | grep -F ': ${tap}:' || true`), "", "no tap created");
    assert.ok(!sh("iptables -w -S FORWARD").includes(`c1m-lab:qemut-check-${id}`), "no rule added");
  };

  test("a bridge name already in use on this machine", async () => {
    requireVmTools();
    const busy = `c1mtbusy${id}`;
    sh(`ip link add ${busy} type bridge`);
    try {
      const r = await run(["/bin/bash", "-c", qemuNetworkCreateScript(net(busy, `c1mtnt${id}`))]);
      assert.notEqual(r.code, 0);
      assert.match(
        r.stderr,
        new RegExp(
          `c1m-lab: interface ${busy} already exists on this machine and is not this lab's .*: set server.bridge / server.tap to free names`,
        ),
      );
      untouched(`c1mtnt${id}`);
      const del = await run(["/bin/bash", "-c", qemuNetworkDeleteScript(net(busy, `c1mtnt${id}`))]);
      assert.match(del.stdout, new RegExp(`${busy} is not this lab's: left in place`));
      assert.notEqual(sh(`ip -o link show ${busy}`), "", "the user's link is kept");
    } finally {
      sh(`ip link del ${busy} 2>/dev/null || true`);
    }
  });

  test("a machine without qemu", async () => {
    requireVmTools();
    const bin = mkdtempSync(join(tmpdir(), "c1mt-noqemu-"));
    try {
      // Everything the script calls but qemu.
      for (const c of ["id", "ip", "iptables", "cat", "grep", "qemu-img", "genisoimage", "tr"]) {
        symlinkSync(sh(`command -v ${c}`).trim(), `${bin}/${c}`);
      }
      const r = await run(["/bin/bash", "-c", qemuNetworkCreateScript(net(`c1mtnb${id}`, `c1mtnt${id}`))], {
        env: { PATH: bin },
      });
      assert.notEqual(r.code, 0);
      assert.match(
        r.stderr,
        /c1m-lab: qemu-system-x86_64 is not installed on this machine: the qemu provider needs it \(apt-get install qemu-system-x86 qemu-utils genisoimage\)/,
      );
      untouched(`c1mtnt${id}`);
      assert.equal(sh(`ip -o link show | grep -F ': c1mtnb${id}:' || true`), "", "no bridge created");
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});

test("disk: an image URL is downloaded once into the cache; the overlay backs onto it; the seed is cidata; delete leaves the cache", async () => {
  requireVmTools();
  const dir = mkdtempSync(join(tmpdir(), "c1mt-disk-"));
  let requests = 0;
  execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", `${dir}/tiny.qcow2`, "16M"]);
  const server = http.createServer((_req, res) => {
    requests++;
    res.end(readFileSync(`${dir}/tiny.qcow2`));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/images/tiny.qcow2`;
    const opts = {
      base: `${dir}/cache/tiny.qcow2`,
      url,
      dir: `${dir}/.c1m-lab/disk-test/qemu`,
      seed: { userData: "#cloud-config\n", metaData: "instance-id: t\n", networkConfig: "version: 2\n" },
    };
    for (const round of [1, 2]) {
      const r = await run(["/bin/bash", "-c", qemuDiskCreateScript(opts)]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(requests, 1, `downloaded once (round ${round})`);
    }
    const info = execFileSync("qemu-img", ["info", "-U", `${opts.dir}/overlay.qcow2`], { encoding: "utf8" });
    assert.match(info, new RegExp(`^backing file: ${dir}/cache/tiny\\.qcow2$`, "m"));
    assert.match(info, /^backing file format: qcow2$/m);
    assert.match(execFileSync("blkid", ["-o", "export", `${opts.dir}/seed.iso`], { encoding: "utf8" }), /^LABEL=cidata$/m);
    const del = await run(["/bin/bash", "-c", qemuDiskDeleteScript(opts)]);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(existsSync(`${dir}/.c1m-lab/disk-test`), false, "overlay, seed and the stack's directory removed");
    assert.equal(existsSync(opts.base), true, "the downloaded image stays cached");
  } finally {
    server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

describe("a real VM under qemu (TCG), the lab's scripts run as the Commands run them", () => {
  before(() => {
    image = requireVmTools();
    tmp = mkdtempSync(join(tmpdir(), "c1mt-qemu-"));
    key = keyPair(tmp);
    baseImage = ensureLocalNodeBase();
  });
  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  test(
    "ssh provider on a VM the test booted (an adopted host): pass; destroy leaves the VM as it was; a second destroy is a no-op",
    { timeout: 900_000 },
    async (t) => {
      const subnet = freeSubnet(id);
      const vm = new TestVm(TestVm.config(image, subnet, { bridge: `c1mtb${id}`, tap: `c1mtt${id}` }), key, root, `adopt${id}`);
      const stack = `qemut-ssh-${id}`;
      const engine = new RealEngine(log);
      const conntrackMax = execFileSync("sysctl", ["-n", "net.netfilter.nf_conntrack_max"], { encoding: "utf8" }).trim();
      t.after(async () => {
        await engine.destroy();
        engine.dispose();
        await vm.remove();
        rmSync(`${root}/reports/${stack}`, { recursive: true, force: true });
      });
      await vm.boot();
      log(`adopted VM booted (network, disk, qemu start, ssh up) in ${vm.bootSeconds.toFixed(1)}s`);
      assert.equal(await vm.instance(), "unmanaged", "a start with no token given stores the placeholder");
      // The host as its owner left it: netplan files, addresses, sysctls.
      const snapshot = async () => {
        const r = await vm.ssh(
          'sudo sh -c \'for f in /etc/netplan/*; do echo "== $f $(stat -c %a "$f")"; cat "$f"; done; ip -br -4 addr show dev eth0; ' +
            "sysctl -n net.core.somaxconn net.ipv4.tcp_max_syn_backlog fs.file-max fs.nr_open; " +
            "ls /etc/sysctl.d /etc/systemd/system; ls -d /opt/c1m-lab /var/lib/c1m-lab ~c1m/.c1m-lab 2>&1 || true'",
        );
        assert.equal(r.code, 0, r.stderr);
        return r.stdout.replace(/\s+/g, " ");
      };
      const before = await snapshot();
      assert.match(before, new RegExp(`eth0 +UP +${subnet}\\.2/24 `));
      // server.hostKey: the VM's own key. (a) It is the one the disk step made and seeded: the VM holds it.
      // (cloud-init writes the seeded public half 0600: root reads it.)
      const pub = await vm.ssh("sudo cat /etc/ssh/ssh_host_ed25519_key.pub");
      assert.equal(pub.code, 0, pub.stderr);
      const hostKey = pub.stdout.trim().split(" ").slice(0, 2).join(" ");
      assert.equal(hostKey, vm.hostKey, "the VM presents the host key its seed gave it");
      assertPresents(vm);

      // (b) With another key pinned, the lab's ssh clients do not get in (the provider's own check: test/engine/host-key).
      await assertWrongKeyRefused(vm, key.path, otherKey(tmp));

      const r = await up(
        stack,
        {
          server: {
            provider: "ssh",
            host: `${subnet}.2`,
            user: "c1m",
            hostKey,
            interface: "eth0",
            primaryAddress: `${subnet}.2/24`,
            // The host's own .2 is no target (targetPrimary off): the lab's three addresses are.
            secondaryAddresses: [`${subnet}.3/24`, `${subnet}.4/24`, `${subnet}.5/24`],
          },
          clients: clients(`172.29.${200 + (id % 50)}.0/24`),
          test: TEST,
        },
        engine,
      );
      assertPass(r, subnet, [3, 4, 5]);
      // (c) The server listens on the lab's addresses only, its metrics on loopback (read through ssh by the test above).
      assert.deepEqual(
        await serverListeners(vm),
        [`${subnet}.3:9000`, `${subnet}.4:9000`, `${subnet}.5:9000`, "127.0.0.1:9100"].sort(),
      );
      assert.deepEqual(
        await Promise.all([probe(`${subnet}.2`, 9000), probe(`${subnet}.2`, 9100), probe(`${subnet}.3`, 9100)]),
        ["ECONNREFUSED", "ECONNREFUSED", "ECONNREFUSED"],
        "from here: nothing on the host's own address, no metrics on any network address",
      );
      const inVm = await vm.ssh(
        "ip -br -4 addr show dev eth0; systemctl is-active c1m-lab-server; " +
          "systemctl show -p DynamicUser -p NoNewPrivileges -p ProtectSystem -p ProtectHome -p PrivateTmp -p LimitNOFILE c1m-lab-server; " +
          'p=$(systemctl show -p MainPID --value c1m-lab-server); echo "uid $(stat -c %u /proc/$p)"; grep "^Max open files" /proc/$p/limits',
      );
      assert.match(inVm.stdout, new RegExp(`${subnet}\\.2/24 ${subnet}\\.3/24 ${subnet}\\.4/24 ${subnet}\\.5/24`));
      assert.match(inVm.stdout, /^active$/m);
      // The server ran the whole test hardened, as a dynamic (unprivileged) user, with the unit's fd limit.
      for (const line of [
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "PrivateTmp=yes",
      ]) {
        assert.match(inVm.stdout, new RegExp(`^${line}$`, "m"), line);
      }
      const uid = Number(/^uid (\d+)$/m.exec(inVm.stdout)?.[1]);
      assert.ok(uid >= 61184 && uid <= 65519, `a dynamic user's uid (61184-65519), got ${uid}:\n${inVm.stdout}`);
      const nofile = /^LimitNOFILE=(\d+)$/m.exec(inVm.stdout)?.[1];
      assert.match(
        inVm.stdout,
        new RegExp(`^Max open files +${nofile} +${nofile} +files`, "m"),
        "the unit's LimitNOFILE, soft and hard",
      );

      for (const round of [1, 2]) {
        assert.deepEqual(round === 1 ? await engine.destroy() : await engine.destroyAgain(), [], `destroy #${round}`);
        assert.equal((await vm.ssh("true")).code, 0, "the VM still runs and lets us in");
        assert.equal(await snapshot(), before, `the VM as it was before (destroy #${round})`);
        const gone = await vm.ssh(
          "systemctl cat c1m-lab-server >/dev/null 2>&1 && echo unit; ls -d /opt/c1m-lab ~/.c1m-lab 2>/dev/null; true",
        );
        assert.equal(gone.stdout.trim(), "", "unit, install and upload directories gone");
        assertNoClientResidue(stack, conntrackMax);
      }
      assert.deepEqual(await vm.remove(), [], "the test's own VM removed");
      assert.equal(await vm.instance(), "", "no token read back from a VM that is not running");
    },
  );

  test(
    "qemu provider: the VM from the image, addresses from netplan, the unit and sysctls; pass with the planned split; destroy leaves nothing here",
    { timeout: 900_000 },
    async (t) => {
      const subnet = freeSubnet(id + 7);
      const stack = `qemut-${id}`;
      const bridge = `c1mtqb${id}`;
      const tap = `c1mtqt${id}`;
      const dir = `/var/lib/c1m-lab/${stack}/qemu`;
      const engine = new RealEngine(log);
      const conntrackMax = execFileSync("sysctl", ["-n", "net.netfilter.nf_conntrack_max"], { encoding: "utf8" }).trim();
      const base = statSync(image.disk);
      t.after(async () => {
        await engine.destroy();
        engine.dispose();
        rmSync(`${root}/reports/${stack}`, { recursive: true, force: true });
      });
      const r = await up(
        stack,
        {
          server: {
            provider: "qemu",
            acceleration: "auto",
            image: image.disk,
            kernel: image.kernel,
            initrd: image.initrd,
            cpus: 2,
            memoryMiB: 1024,
            bridge,
            tap,
            hostAddress: `${subnet}.1/24`,
            sshPublicKeyPath: `${key.path}.pub`,
            primaryAddress: `${subnet}.2/24`,
            secondaryAddresses: { count: 2 },
          },
          clients: clients(`172.29.${150 + (id % 50)}.0/24`),
          test: TEST,
        },
        engine,
      );
      assertPass(r, subnet, [2, 3, 4]);
      log(`connection test:\n${engine.output("connection-test-verify").stderr.trim()}`);
      assert.match(
        engine.output("connection-test-verify").stderr,
        new RegExp(`^verify: metrics http://127\\.0\\.0\\.1:9100 on c1m@${subnet.replace(/\./g, "\\.")}\\.2 through ssh `, "m"),
        "the test read the metrics through its ssh tunnel",
      );
      log(`VM step: ${engine.output("server-host-vm").stdout.trim()}`);
      const vmStep = engine.log.find((l) => l.includes("server-host-vm"));
      log(`boot: ${engine.log.filter((l) => /server-host-(network|disk|vm|ssh-wait) /.test(l)).join(", ")}`);
      assert.ok(vmStep, "the VM step ran");

      const vm = new TestVm(TestVm.config(image, subnet, { bridge, tap }), key, root, stack);
      // (a) The key the disk step made (and printed: its public half only) is the one the VM presents.
      vm.hostKey = hostKeyFrom(engine.output("server-host-disk").stdout, "server-host-disk");
      assertPresents(vm);
      const priv = readFileSync(`${dir}/ssh_host_ed25519_key`, "utf8");
      assert.equal(statSync(`${dir}/ssh_host_ed25519_key`).mode & 0o777, 0o600);
      const privBody = priv.split("\n").filter((l) => l && !l.startsWith("-----"));
      for (const m of engine.made) {
        const printed = (() => {
          try {
            const o = engine.output(m.name);
            return o.stdout + o.stderr;
          } catch {
            return "";
          }
        })();
        assert.ok(!privBody.some((l) => printed.includes(l)), `${m.name} printed none of the private host key`);
      }
      // (b) Pinned to another key, nothing of the lab gets in.
      await assertWrongKeyRefused(vm, key.path, otherKey(tmp));
      // (c) The server on the lab's addresses, its metrics on the VM's loopback only.
      assert.deepEqual(
        await serverListeners(vm),
        [`${subnet}.2:9000`, `${subnet}.3:9000`, `${subnet}.4:9000`, "127.0.0.1:9100"].sort(),
      );
      assert.equal(await probe(`${subnet}.2`, 9100), "ECONNREFUSED", "no metrics on the lab network");
      const inVm = await vm.ssh(
        "ip -br -4 addr show dev eth0; networkctl status eth0 --no-pager; sudo cat /run/systemd/network/10-netplan-eth0.network; " +
          "systemctl is-active c1m-lab-server; systemctl show -p LimitNOFILE c1m-lab-server; cat /proc/sys/net/core/somaxconn /proc/sys/net/ipv4/tcp_max_syn_backlog; cat /etc/sysctl.d/60-c1m-lab.conf; " +
          "sudo ls /etc/netplan",
      );
      assert.equal(inVm.code, 0, inVm.stderr);
      log(`in the VM:\n${inVm.stdout}`);
      const o = inVm.stdout;
      assert.match(
        o,
        new RegExp(`^eth0 +UP +${subnet}\\.2/24 ${subnet}\\.3/24 ${subnet}\\.4/24 *$`, "m"),
        "the three lab addresses on eth0",
      );
      assert.match(
        o,
        /Network File: \/run\/systemd\/network\/10-netplan-eth0\.network/,
        "networkd configures eth0 from netplan's file",
      );
      for (const n of [2, 3, 4])
        assert.match(o, new RegExp(`^Address=${subnet}\\.${n}/24$`, "m"), `netplan rendered ${subnet}.${n}`);
      assert.match(o, /^active$/m, "the server unit is active");
      assert.match(o, /^LimitNOFILE=\d+$/m);
      assert.match(o, /^65535\n65535$/m, "somaxconn and tcp_max_syn_backlog are set");
      assert.match(
        o,
        /^net\.core\.somaxconn = 65535\nnet\.ipv4\.tcp_max_syn_backlog = 65535$/m,
        "from /etc/sysctl.d/60-c1m-lab.conf",
      );
      assert.match(o, /^50-cloud-init\.yaml\n60-c1m-lab\.yaml$/m, "cloud-init's file and the lab's drop-in");

      assert.deepEqual(await engine.destroy(), [], "destroy");
      const sh = (cmd: string) => execFileSync("/bin/bash", ["-c", cmd], { encoding: "utf8" });
      assert.equal(sh(`ip -o link show | grep -E ': (${bridge}|${tap})[:@]' || true`).trim(), "", "tap and bridge removed");
      assert.ok(!sh("iptables -w -S FORWARD").includes(`c1m-lab:${stack}`), "FORWARD rules removed");
      assert.equal(existsSync(dir), false, "overlay, seed and pid file removed");
      assert.equal(existsSync(`/var/lib/c1m-lab/${stack}`), false, "the stack's directory removed");
      const qemus = sh("pgrep -a qemu-system || true")
        .split("\n")
        .filter((l) => l.includes(dir));
      assert.deepEqual(qemus, [], "no qemu process of the lab");
      const after = statSync(image.disk);
      assert.deepEqual([after.size, after.mtimeMs], [base.size, base.mtimeMs], "the base image was not written");
      assertNoClientResidue(stack, conntrackMax);
      // Nothing of the stack in the checkout (the lab no longer writes there at all).
      assert.deepEqual(
        existsSync(`${root}/.c1m-lab`) ? readdirSync(`${root}/.c1m-lab`).filter((f) => f.includes(stack)) : [],
        [],
      );
    },
  );
});
