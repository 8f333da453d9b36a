// The second client machine the lab makes here (clients.hosts[i].netns), for real: a namespace
// with its own dockerd and sshd. Created (twice: idempotent), reached only over ssh with the key
// and pinned host key it made, its Docker apart from this machine's, then deleted (twice) with a
// residue audit; a link of the same name that is not the lab's is refused and kept.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import {
  netnsDockerHostCreateScript,
  netnsDockerHostDeleteScript,
  netnsDockerHostFiles,
  type NetnsDockerHostArgs,
} from "../../infra/clients/netnsHost/scripts.js";
import { q } from "../../infra/shell.js";
import { needsRoot, runScript, sh } from "../support/sh.js";

const id = process.pid % 10_000;
const octet = 100 + (process.pid % 150);
const host: NetnsDockerHostArgs = {
  namespace: `c1mt-dh-${id}`,
  hostInterface: `c1mt${id}dh`,
  hostAddress: `10.208.${octet}.1/24`,
  interface: `c1mt${id}dc`,
  address: `10.208.${octet}.2/24`,
  sshPort: 22,
  stateDir: `/var/lib/c1m-lab-test/clients-dh${id}`,
  execRoot: `/run/c1m-lab-test/dh${id}`,
  owner: `c1m-lab:dhtest-${id}:b`,
};
const files = netnsDockerHostFiles(host);
const ip = host.address.split("/")[0]!;
const ssh = (command: string) =>
  runScript(
    `ssh -i ${files.clientKey} -o UserKnownHostsFile=${files.knownHosts} -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=5 root@${ip} ${q(command)}`,
    { timeoutMs: 60_000 },
  );

after(() => {
  runScript(netnsDockerHostDeleteScript(host), { timeoutMs: 120_000 });
  runScript(`ip link del ${host.hostInterface} 2>/dev/null || true`);
});

test("netns docker host: made, reached only over ssh, its own Docker; deleted with nothing left", { timeout: 180_000 }, () => {
  needsRoot();
  const mainBefore = sh("docker ps -aq | sort").trim();
  try {
    upAndDown(mainBefore);
  } finally {
    runScript(netnsDockerHostDeleteScript(host), { timeoutMs: 120_000 });
  }
});

function upAndDown(mainBefore: string): void {
  for (const round of [1, 2]) {
    const r = runScript(netnsDockerHostCreateScript(host), { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `create round ${round}: ${r.stderr}`);
    assert.match(r.stdout, /^hostkey: ssh-ed25519 [A-Za-z0-9+/]+=*$/m);
  }
  const info = ssh("docker info --format '{{.DockerRootDir}}'");
  assert.equal(info.code, 0, info.stderr);
  assert.equal(info.stdout.split("\n")[0], `${host.stateDir}/docker`, "its own data root");
  // A network made there is there only.
  const net = ssh(
    "docker network create --label c1mt=1 c1mt-probe-net >/dev/null && docker network ls --filter label=c1mt=1 -q | wc -l",
  );
  assert.equal(net.stdout.trim(), "1", net.stderr);
  assert.equal(sh("docker network ls --filter label=c1mt=1 -q | wc -l").trim(), "0", "not on this machine's Docker");
  // Its own network stack: its address, its own iptables (Docker's chains there).
  const stack = ssh(`ip -4 -br addr show dev ${host.interface}; iptables -t nat -S POSTROUTING | grep -c -- '-j MASQUERADE'`);
  assert.match(
    stack.stdout,
    new RegExp(`^${host.interface}@if\\d+ +UP +${ip.replace(/\./g, "\\.")}/24 *\n[1-9]\n$`),
    stack.stderr,
  );
  // Another host key is refused: ssh pins the one the create made.
  const wrong = runScript(
    `d=$(mktemp -d) && echo "${ip} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKEhmGd0Dexw+c4HLG1i9x6ki9zR/DqFd4tmSo3knVrL" > $d/kh && ssh -i ${files.clientKey} -o UserKnownHostsFile=$d/kh -o StrictHostKeyChecking=yes -o BatchMode=yes root@${ip} true; rc=$?; rm -rf $d; exit $rc`,
  );
  assert.notEqual(wrong.code, 0);
  assert.match(wrong.stderr, /HOST IDENTIFICATION HAS CHANGED|Host key verification failed/);

  for (const round of [1, 2]) {
    const r = runScript(netnsDockerHostDeleteScript(host), { timeoutMs: 120_000 });
    assert.equal(r.code, 0, `delete round ${round}: ${r.stderr}`);
  }
  assert.equal(runScript(`ip netns list | grep -c '^${host.namespace}\\b'`).stdout.trim(), "0", "namespace");
  assert.equal(runScript(`ip link show ${host.hostInterface}`).code, 1, "link");
  assert.equal(sh(`iptables -S FORWARD | grep -c -- '${host.owner}' || true`).trim(), "0", "FORWARD rules");
  assert.equal(sh(`awk '$2 ~ /c1m-lab-test/' /proc/self/mounts | wc -l`).trim(), "0", "mounts");
  assert.deepEqual(processesUsing(host.stateDir), [], "dockerd, sshd, containerd");
  assert.equal(existsSync(host.stateDir), false, "state dir");
  assert.equal(existsSync(host.execRoot), false, "exec root");
  assert.equal(sh("docker ps -aq | sort").trim(), mainBefore, "this machine's containers as they were");
}

test("netns docker host: a link of its name that is not the lab's is refused and kept", { timeout: 60_000 }, () => {
  needsRoot();
  sh(`ip link add ${host.hostInterface} type veth peer name ${host.hostInterface}p`);
  try {
    const r = runScript(netnsDockerHostCreateScript(host), { timeoutMs: 60_000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`a link named ${host.hostInterface} exists and is not this lab's`));
    const d = runScript(netnsDockerHostDeleteScript(host));
    assert.equal(d.code, 0, d.stderr);
    assert.equal(runScript(`ip link show ${host.hostInterface}`).code, 0, "theirs is kept");
    assert.equal(existsSync(host.stateDir), false);
  } finally {
    runScript(`ip link del ${host.hostInterface}`);
  }
});

/** Processes whose command line names `path` (read from /proc: a pgrep in a shell would find its own shell). */
function processesUsing(path: string): string[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .flatMap((pid) => {
      try {
        const line = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
        return line.includes(path) ? [`${pid}: ${line}`] : [];
      } catch {
        return [];
      }
    });
}
