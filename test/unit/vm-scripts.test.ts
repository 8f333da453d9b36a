// The VM script builders as text: syntax, quoting of hostile values, input checks, and the pure
// renderers (systemd unit, sysctl conf, cloud-init). test/integration/vm-scripts-ssh.test.ts runs
// them for real over ssh inside a namespace.
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, test } from "node:test";
import { assertBashSyntax } from "../support/sh.js";
import { parse } from "yaml";
import { ScriptInputError } from "../../infra/shell.js";
import {
  installNetplanDropInScript,
  netplanIdProbeScript,
  parseNetplanProbe,
  removeNetplanDropInScript,
} from "../../infra/server/vm/scripts/netplan.js";
import {
  installServerUnitScript,
  removeServerUnitScript,
  renderServerUnit,
  systemdQuote,
  type ServerUnitOptions,
} from "../../infra/server/vm/scripts/unit.js";
import { installSysctlScript, renderSysctlConf, restoreSysctlScript } from "../../infra/server/vm/scripts/sysctl.js";
import {
  multipassAddressScript,
  multipassDeleteScript,
  multipassLaunchScript,
  renderCloudInit,
} from "../../infra/server/vm/multipass/scripts.js";
import { waitForSshScript } from "../../infra/server/vm/scripts/ssh.js";
import { assertLinesInOrder } from "../support/mockProgram.js";
import { hostKeyFrom, seedHostKeyLines } from "../../infra/server/vm/scripts/hostKey.js";
import { UNIT_HARDENING } from "../support/vmLab.js";
import { shellValue } from "../support/mockProgram.js";

const HOSTILE = `x'; rm -rf / #"$(touch /tmp/c1m-pwned)\`id\` %h $HOME \\`;

const assertSyntax = (text: string) => assertBashSyntax(text, "script");

/** Runs the script's `name=...` line in bash and returns the value the variable holds. */
/** systemd's reading of an ExecStart value: specifiers on the raw line, then words with quotes and C escapes, then $$ / $VAR. */
function systemdWords(line: string, env: Record<string, string> = {}): string[] {
  const raw = line.replace(/%(.)/g, (_, c: string) => {
    if (c === "%") return "%";
    throw new Error(`specifier %${c} would be expanded by systemd`);
  });
  const words: string[] = [];
  let i = 0;
  while (i < raw.length) {
    while (raw[i] === " " || raw[i] === "\t") i++;
    if (i >= raw.length) break;
    let word = "";
    let quote: string | null = null;
    for (; i < raw.length; i++) {
      const c = raw[i]!;
      if (c === "\\") {
        const n = raw[++i];
        word += n === "n" ? "\n" : n === "t" ? "\t" : n;
      } else if (quote) {
        if (c === quote) quote = null;
        else word += c;
      } else if (c === '"' || c === "'") quote = c;
      else if (c === " " || c === "\t") break;
      else word += c;
    }
    if (quote) throw new Error("unbalanced quoting");
    words.push(
      word.replace(/\$\$|\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)/g, (m, a?: string, b?: string) =>
        m === "$$" ? "$" : (env[a ?? b ?? ""] ?? ""),
      ),
    );
  }
  return words;
}

const UNIT: ServerUnitOptions = {
  nodeArgs: ["--max-semi-space-size=64"],
  serverArgs: ["--port", "9000", "--addresses", "10.0.0.5,10.0.0.6", HOSTILE, ";", "100%", 'a"b'],
  limitNofile: 1_048_576,
  nrOpen: 2_097_152,
  metricsPort: 9100,
};

describe("systemd unit", () => {
  test("renderServerUnit: ExecStart reads back as exactly the argv; LimitNOFILE, Restart, WorkingDirectory; hardened, unprivileged", () => {
    const text = renderServerUnit(UNIT);
    const exec = text
      .split("\n")
      .find((l) => l.startsWith("ExecStart="))!
      .slice("ExecStart=".length);
    assert.deepEqual(systemdWords(exec, { HOME: "/root" }), [
      "/usr/bin/node",
      "--max-semi-space-size=64",
      "/opt/c1m-lab/c1m-server.mjs",
      ...UNIT.serverArgs,
    ]);
    for (const line of [
      "LimitNOFILE=1048576",
      "Restart=on-failure",
      "WorkingDirectory=/opt/c1m-lab",
      "Type=simple",
      "WantedBy=multi-user.target",
    ]) {
      assert.ok(text.split("\n").includes(line), line);
    }
    assert.doesNotMatch(text, /Environment/);
    // The [Service] section after ExecStart, literally: limits, then the sandbox and a dynamic user.
    const service = text.split("\n");
    assert.deepEqual(service.slice(service.findIndex((l) => l.startsWith("ExecStart=")) + 1), [
      "Restart=on-failure",
      "RestartSec=2",
      "LimitNOFILE=1048576",
      "TasksMax=infinity",
      "KillSignal=SIGTERM",
      "TimeoutStopSec=30",
      ...UNIT_HARDENING,
      "",
      "[Install]",
      "WantedBy=multi-user.target",
      "",
    ]);
    assert.doesNotMatch(text, /^(User|Group|StateDirectory|RuntimeDirectory)=/m, "a dynamic user, nothing to write");
  });

  test("systemd-analyze verify accepts the rendered unit (hostile arguments included)", () => {
    assert.equal(
      spawnSync("systemd-analyze", ["--version"]).status,
      0,
      "this test needs systemd-analyze: apt-get install -y systemd",
    );
    const dir = mkdtempSync(join(tmpdir(), "c1mt-unit-"));
    try {
      writeFileSync(join(dir, "c1m-lab-server.service"), renderServerUnit({ ...UNIT, nodePath: process.execPath }));
      const ok = spawnSync("systemd-analyze", ["verify", join(dir, "c1m-lab-server.service")], { encoding: "utf8" });
      assert.equal(ok.status, 0, ok.stderr);
      // ... and it does notice broken quoting, so the check above means something.
      writeFileSync(join(dir, "broken.service"), '[Service]\nExecStart=/usr/bin/node "unbalanced\n');
      assert.notEqual(spawnSync("systemd-analyze", ["verify", join(dir, "broken.service")]).status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("systemdQuote leaves plain words bare and rejects control characters", () => {
    assert.equal(systemdQuote("--port=9000"), "--port=9000");
    assert.equal(systemdQuote("a b"), '"a b"');
    assert.equal(systemdQuote("$X%"), '"$$X%%"');
    assert.throws(() => systemdQuote("a\nExecStartPre=/bin/sh"), /control character/);
  });

  test("installServerUnitScript: the command lines, in order, and the unit text it writes", () => {
    const text = installServerUnitScript(UNIT);
    assertSyntax(text);
    const order = [
      "cur=$(cat /proc/sys/fs/nr_open)",
      'if [ 1048576 -gt "$cur" ]; then',
      "as_root timeout 30 sysctl -q -w fs.nr_open=2097152",
      'as_root install -o root -g root -m 0644 -- "$tmp" "$unitfile"',
      "as_root timeout 60 systemctl daemon-reload",
      'as_root timeout 90 systemctl enable "$unit"',
      'as_root timeout 90 systemctl restart "$unit"',
      'as_root timeout 90 systemctl enable --now "$unit"',
      "until healthz; do",
    ];
    let at = -1;
    for (const piece of order) {
      const next = text.indexOf(piece, at + 1);
      assert.ok(next > at, `${piece} after the previous step`);
      at = next;
    }
    assert.equal(shellValue(text, "unitfile"), "/etc/systemd/system/c1m-lab-server.service");
    // The printf line writes exactly renderServerUnit's text.
    const printf = text.split("\n").find((l) => l.startsWith("printf '%s\\n' '# Written by c1m-lab. Removed"))!;
    const written = execFileSync("bash", ["-c", printf.replace(/ > "\$tmp"$/, "")], { encoding: "utf8" });
    assert.equal(written, renderServerUnit(UNIT));
  });

  test("unit inputs are checked: workdir the destroy step deletes, names, limits", () => {
    assert.throws(
      () => renderServerUnit({ ...UNIT, workdir: "/usr" }),
      /workdir "\/usr" is not valid: the destroy step deletes it/,
    );
    assert.throws(() => removeServerUnitScript({ workdir: "/var/lib" }), /workdir "\/var\/lib" is not valid/);
    assert.throws(() => removeServerUnitScript({ workdir: "/opt/../c1m" }), /workdir .* is not valid/);
    assert.throws(() => renderServerUnit({ ...UNIT, unitName: "x.service" }), /unitName "x.service" is not valid/);
    assert.throws(
      () => renderServerUnit({ ...UNIT, limitNofile: 10 }),
      /limitNofile 10 is not valid: use a whole number from 1024/,
    );
    assert.throws(() => renderServerUnit({ ...UNIT, serverArgs: ["ok", "bad\n"] }), /serverArgs\[1\] "bad\\n" is not valid/);
    assert.throws(() => installServerUnitScript({ ...UNIT, metricsHost: "$(id)" }), /metricsHost "\$\(id\)" is not valid/);
    const rm = removeServerUnitScript({ workdir: "/srv/c1m-lab", root: "/tmp/r" });
    assertSyntax(rm);
    assert.equal(shellValue(rm, "workdir"), "/srv/c1m-lab");
    assert.equal(shellValue(rm, "unitfile"), "/tmp/r/etc/systemd/system/c1m-lab-server.service");
  });
});

describe("netplan scripts", () => {
  test("hostile staged path is one word; addresses and interface are checked", () => {
    const text = installNetplanDropInScript({
      stagedPath: `/tmp/${HOSTILE}`,
      addresses: ["10.0.0.5/24", "10.0.0.6/24"],
      iface: "ens3",
    });
    assertSyntax(text);
    assert.equal(shellValue(text, "staged"), `/tmp/${HOSTILE}`);
    assert.equal(shellValue(text, "dest"), "/etc/netplan/60-c1m-lab.yaml");
    const arr = execFileSync(
      "bash",
      ["-c", `${text.split("\n").find((l) => l.startsWith("addresses=("))}\nprintf '%s|' "\${addresses[@]}"`],
      { encoding: "utf8" },
    );
    assert.equal(arr, "10.0.0.5/24|10.0.0.6/24|");
    // validate before install, install before apply, apply before the address check
    const steps = [
      "netplan generate --root-dir",
      'install -o root -g root -m 0600 -- "$staged" "$dest.c1m-new"',
      "netplan apply",
      "while missing=$(missing_addrs)",
    ];
    assert.deepEqual(
      [...steps].sort((a, b) => text.indexOf(a) - text.indexOf(b)),
      steps,
    );
    assert.throws(
      () => installNetplanDropInScript({ stagedPath: "/tmp/x", addresses: ["10.0.0.5/24; reboot"], iface: "ens3" }),
      /addresses\[0\] "10.0.0.5\/24; reboot" is not valid/,
    );
    assert.throws(
      () => installNetplanDropInScript({ stagedPath: "/tmp/x", addresses: ["10.0.0.5/24"], iface: "ens3 x" }),
      /iface "ens3 x" is not valid/,
    );
    assert.throws(() => removeNetplanDropInScript({ addresses: [], iface: "ens3" }), /addresses must list at least one/);
    assert.throws(
      () => installNetplanDropInScript({ stagedPath: "/tmp/x", addresses: ["10.0.0.5/24"], iface: "ens3", root: "/tmp/x/" }),
      /root "\/tmp\/x\/" is not valid/,
    );
    assertSyntax(removeNetplanDropInScript({ addresses: ["10.0.0.5/24"], iface: "ens3" }));
    assertSyntax(netplanIdProbeScript());
  });

  test("parseNetplanProbe decodes the probe's JSON line and ignores noise before it", () => {
    const b = (s: string) => Buffer.from(s).toString("base64");
    const out =
      "Welcome to Ubuntu\n" +
      `{"files":[{"pathBase64":"${b("/etc/netplan/50-cloud-init.yaml")}","textBase64":"${b("network: {version: 2}\n")}"}],` +
      `"links":[{"nameBase64":"${b("lo")}","mac":"00:00:00:00:00:00"},{"nameBase64":"${b("ens3")}","mac":"52:54:00:AB:CD:EF"},{"nameBase64":"${b("tun0")}","mac":""}]}\n`;
    assert.deepEqual(parseNetplanProbe(out), {
      files: [{ path: "/etc/netplan/50-cloud-init.yaml", text: "network: {version: 2}\n" }],
      links: [{ name: "lo", mac: "00:00:00:00:00:00" }, { name: "ens3", mac: "52:54:00:ab:cd:ef" }, { name: "tun0" }],
    });
    assert.throws(() => parseNetplanProbe("sudo: a password is required\n"), /netplan probe printed no result/);
  });
});

describe("sysctl scripts", () => {
  test("renderSysctlConf normalises values; bad keys, values and unsafe numbers are refused", () => {
    assert.equal(
      renderSysctlConf({
        "net.core.somaxconn": 65535,
        "net.ipv4.ip_local_port_range": "1024\t 65535",
        "fs.file-max": "9223372036854775807",
      }),
      "# Written by c1m-lab (Tuning). Previous values are recorded and restored by pulumi destroy.\n" +
        "net.core.somaxconn = 65535\nnet.ipv4.ip_local_port_range = 1024 65535\nfs.file-max = 9223372036854775807\n",
    );
    assert.throws(() => renderSysctlConf({ "net.core.somaxconn; reboot": 1 }), /key "net.core.somaxconn; reboot" is not valid/);
    assert.throws(() => renderSysctlConf({ "net.core.somaxconn": "1$(id)" }), /net.core.somaxconn = "1\$\(id\)" is not valid/);
    assert.throws(
      () => renderSysctlConf({ "fs.file-max": 2 ** 63 }),
      /not a whole number JavaScript holds exactly; pass it as a string/,
    );
  });

  test("installSysctlScript records before it writes and checks after; hostile stateDir is one word", () => {
    const text = installSysctlScript({ sysctls: { "net.core.somaxconn": 8192 }, stateDir: `/var/lib/${HOSTILE}` });
    assertSyntax(text);
    assert.equal(shellValue(text, "state"), `/var/lib/${HOSTILE}`);
    const steps = [
      "modprobe nf_conntrack",
      "record net.core.somaxconn",
      '"$tmp" "$mods"',
      '"$tmp" "$conf"',
      'sysctl -p "$conf"',
      "check net.core.somaxconn 8192",
    ];
    assert.deepEqual(
      [...steps].sort((a, b) => text.indexOf(a) - text.indexOf(b)),
      steps,
    );
    assertSyntax(restoreSysctlScript({ stateDir: "/var/lib/c1m-lab" }));
  });
});

describe("local scripts", () => {
  test("waitForSshScript: the key text never appears in the script; options are checked", () => {
    const text = waitForSshScript({
      host: "10.0.0.2",
      port: 2222,
      user: "ubuntu",
      timeoutSeconds: 30,
      keyEnv: "C1M_KEY",
      hostKey: "ssh-ed25519 AAAAC3Nza",
    });
    assertSyntax(text);
    assert.match(text, /"\$\{!keyenv\}"/);
    assert.doesNotMatch(text, /set -x|echo "\$\{!keyenv/);
    assert.throws(
      () => waitForSshScript({ host: "-oProxyCommand=id", port: 22, user: "u", timeoutSeconds: 5 }),
      /host "-oProxyCommand=id" is not valid/,
    );
    assert.throws(
      () => waitForSshScript({ host: "h", port: 22, user: "u", timeoutSeconds: 5, keyEnv: "A-B" }),
      /keyEnv "A-B" is not valid/,
    );
    assert.throws(() => waitForSshScript({ host: "h", port: 0, user: "u", timeoutSeconds: 5 }), /port 0 is not valid/);
  });

  test("waitForSshScript with a pinned host key: known_hosts holds it alone, strict checking; a refused key fails at once", () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdi/c0CZgWbbgxbqHfeGdS1NoUzv4ElW5QLW4aWStYc";
    const text = waitForSshScript({ host: "10.0.0.2", port: 2222, user: "ubuntu", timeoutSeconds: 30, hostKey: key });
    assertSyntax(text);
    assert.equal(shellValue(text, "hostkey"), key);
    assertLinesInOrder(
      text,
      [
        `if [ "$port" = 22 ]; then printf '%s %s\\n' "$host" "$hostkey"; else printf '[%s]:%s %s\\n' "$host" "$port" "$hostkey"; fi > "$tmpd/known_hosts"`,
        'opts+=(-o StrictHostKeyChecking=yes -o UserKnownHostsFile="$tmpd/known_hosts")',
        '  case "$err" in',
        '    *"Host key verification failed"*|*"no matching host key type"*)',
        `      fail "ssh $user@$host:$port does not present the pinned host key $hostkey: refused, not retried (another machine at that address, or the host's key changed); ssh said: $(printf '%s' "$err" | tr -d '\\r' | tail -n 3 | tr '\\n' ' ')" ;;`,
        "  esac",
        '  if [ "$SECONDS" -ge "$deadline" ]; then',
      ],
      "wait for ssh",
    );
    assert.doesNotMatch(text, /StrictHostKeyChecking=no/);
    // Only the tests' own throwaway VMs go without one.
    const loose = waitForSshScript({ host: "10.0.0.2", port: 22, user: "u", timeoutSeconds: 5 });
    assert.match(loose, /^opts\+=\(-o StrictHostKeyChecking=no -o UserKnownHostsFile=\/dev\/null\)$/m);
    assert.doesNotMatch(loose, /Host key verification failed/);
    assert.throws(
      () => waitForSshScript({ host: "h", port: 22, user: "u", timeoutSeconds: 5, hostKey: "ssh-ed25519 AAAA\nProxyCommand id" }),
      /hostKey "ssh-ed25519 AAAA\\nProxyCommand id" is not valid/,
    );
  });

  test("seedHostKeyLines: a new key in $hostkey, appended to the user-data as ssh_keys, the public half in $pub", () => {
    assert.deepEqual(seedHostKeyLines('"$dir/seed/user-data"'), [
      'rm -f -- "$hostkey" "$hostkey.pub"',
      '(umask 077; timeout 60 ssh-keygen -q -t ed25519 -N "" -C "" -f "$hostkey" </dev/null)',
      'pub=$(cut -d " " -f 1,2 < "$hostkey.pub")',
      "{",
      "  printf '%s\\n' 'ssh_deletekeys: true' 'ssh_keys:' '  ed25519_private: |'",
      "  sed 's/^/    /' \"$hostkey\"",
      "  printf '  ed25519_public: %s\\n' \"$pub\"",
      '} >> "$dir/seed/user-data"',
    ]);
  });

  test("hostKeyFrom: the last host key line of a step's output; none, or not a key, is an error naming the step", () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPdi/c0CZgWbbgxbqHfeGdS1NoUzv4ElW5QLW4aWStYc";
    assert.equal(hostKeyFrom(`c1m-lab: overlay x\nc1m-lab: ssh host key ${key}\n`, "server-host-disk"), key);
    const none =
      /^HostKeyError: server-host-disk printed no ssh host key line \("c1m-lab: ssh host key ssh-ed25519 AAAA\.\.\."\): the VM's host key cannot be pinned$/;
    assert.throws(() => hostKeyFrom("4242", "server-host-disk"), none);
    assert.throws(() => hostKeyFrom("c1m-lab: ssh host key ssh-ed25519 AAAAC3Nza", "server-host-disk"), none, "a truncated key");
  });

  test("multipass scripts: hostile cloud-init text reaches multipass's stdin as it is; names, sizes and the record path are checked", () => {
    const cloudInit = `#cloud-config\nusers: [${HOSTILE}]\n`;
    const opts = {
      instance: "c1m-server",
      release: "24.04",
      cpus: 2,
      memory: "4G",
      disk: "20G",
      cloudInit,
      recordPath: "/var/lib/c1m-lab/s/multipass-instance",
    };
    const text = multipassLaunchScript(opts);
    assertSyntax(text);
    assert.equal(shellValue(text, "record"), "/var/lib/c1m-lab/s/multipass-instance");
    // The user-data goes to a private temporary file, the host key is appended, multipass reads it
    // on stdin; then the key the VM presents is checked through multipass's own channel and printed.
    assertLinesInOrder(
      text,
      [
        'keydir=$(mktemp -d); hostkey="$keydir/ssh_host_ed25519_key"; userdata="$keydir/user-data"',
        '} >> "$userdata"',
        'rm -rf -- "$keydir"',
        'pubvm=$(timeout 60 multipass exec "$name" -- cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d " " -f 1,2) || pubvm=',
        `printf '%s%s\\n' 'c1m-lab: ssh host key ' "$pub"`,
      ],
      "multipass launch",
    );
    const launch = text.split("\n").find((l) => l.startsWith("timeout ") && l.includes(" multipass launch "))!;
    const write = text.split("\n").find((l) => l.startsWith("printf ") && l.endsWith(' > "$userdata"'))!;
    assert.match(
      launch,
      /^timeout 960 multipass launch 24\.04 --name c1m-server --cpus 2 --memory 4G --disk 20G --cloud-init - --timeout 900 < "\$userdata"$/,
    );
    // The printf, run on its own, writes the text byte for byte.
    const printed = spawnSync("bash", ["-c", write.slice(0, write.lastIndexOf(" > "))], { encoding: "utf8" });
    assert.equal(printed.stdout, cloudInit);
    assertSyntax(multipassAddressScript("c1m-server"));
    assertSyntax(multipassDeleteScript("c1m-server", "/var/lib/c1m-lab/s/multipass-instance"));
    assert.throws(() => multipassDeleteScript("C1M; rm", "/x"), /instance "C1M; rm" is not valid/);
    assert.throws(
      () => multipassLaunchScript({ ...opts, memory: "4GB" }),
      (err: Error) => err instanceof ScriptInputError && /memory "4GB" is not valid: use a size like 4G/.test(err.message),
    );
    assert.throws(
      () => multipassLaunchScript({ ...opts, recordPath: `/tmp/${HOSTILE}` }),
      (err: Error) => err instanceof ScriptInputError && /path .* is not valid: use an absolute file path/.test(err.message),
    );
    assert.throws(
      () => multipassLaunchScript({ ...opts, cloudInit: "users: []\n" }),
      /cloudInit is not valid: it must be cloud-init user-data starting with #cloud-config/,
    );
  });

  test("renderCloudInit: #cloud-config, the key for the user, nodejs; a key that would inject YAML is refused", () => {
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample me@laptop";
    const ubuntu = renderCloudInit({ sshPublicKey: `${key}\n`, user: "ubuntu" });
    assert.match(ubuntu, /^#cloud-config\n/);
    assert.deepEqual(parse(ubuntu), {
      users: ["default"],
      ssh_authorized_keys: [key],
      package_update: true,
      packages: ["nodejs"],
    });
    const lab = parse(renderCloudInit({ sshPublicKey: key, user: "lab" }));
    assert.deepEqual(lab.users[1], {
      name: "lab",
      groups: ["sudo"],
      sudo: "ALL=(ALL) NOPASSWD:ALL",
      shell: "/bin/bash",
      ssh_authorized_keys: [key],
    });
    assert.throws(
      () => renderCloudInit({ sshPublicKey: `${key}\nruncmd: [reboot]`, user: "ubuntu" }),
      /sshPublicKey is not valid/,
    );
    assert.throws(
      () => renderCloudInit({ sshPublicKey: "-----BEGIN OPENSSH PRIVATE KEY-----", user: "ubuntu" }),
      /sshPublicKey is not valid/,
    );
    assert.throws(() => renderCloudInit({ sshPublicKey: key, user: "Root" }), /user "Root" is not valid/);
  });
});
