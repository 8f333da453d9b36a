// multipass on this machine: launch, address, delete, and the cloud-init file `multipass launch`
// reads (the lab's user and key, Node.js 20 from the snap store, the VM's ssh host key made here).
// Pure: each returns a bash script.
import { Document, parse } from "yaml";
import { FAIL, SUDO_PRELUDE, ScriptInputError, cmd, q, script } from "../../../shell.js";
import { SSH_PUBLIC_KEY, checkInt, checkUser } from "../scripts/checks.js";
import { PRINT_HOST_KEY, seedHostKeyLines } from "../scripts/hostKey.js";
const MULTIPASS_JSON = (expr: string) =>
  `node -e 'let s="";process.stdin.on("data",(d)=>{s+=d}).on("end",()=>{let v="";try{const i=JSON.parse(s).info[process.argv[1]];v=${expr}}catch{}process.stdout.write(v==null?"":String(v))})' "$name"`;

function checkInstance(instance: string, where: string): string {
  if (typeof instance !== "string" || !/^[a-z][a-z0-9-]{0,62}$/.test(instance)) {
    throw new ScriptInputError(
      `${where}: instance ${JSON.stringify(instance)} is not valid: use a multipass instance name (a-z, 0-9, -), like c1m-server`,
    );
  }
  return instance;
}

export interface MultipassLaunchOptions {
  instance: string;
  release: string;
  cpus: number;
  memory: string;
  disk: string;
  /** The cloud-init user-data (vmCloudInit), handed to `multipass launch` on stdin. */
  cloudInit: string;
  /** This machine's record that the instance is the stack's (in the stack's own directory). */
  recordPath: string;
  /** Bound for launch and for cloud-init to finish; default 900 s. */
  timeoutSeconds?: number;
}

/**
 * Launches the VM and waits for cloud-init. An instance of that name that exists already is never
 * adopted: one this stack recorded as its own (a create cut short) is deleted and launched anew,
 * any other is refused. A create that fails after the launch began deletes the instance it
 * launched before it exits (a failed create is not in the state: no destroy would). The VM's ssh
 * host key is made here and handed over in the user-data (scripts/hostKey.ts); once cloud-init is
 * done the script checks, through multipass's own channel (`multipass exec`, not ssh), that the VM
 * presents it, and prints the public half for ssh to pin. The private half lives only in a
 * temporary directory until the launch has read it.
 */
export function multipassLaunchScript(opts: MultipassLaunchOptions): string {
  const where = "multipassLaunchScript";
  const instance = checkInstance(opts.instance, where);
  if (typeof opts.release !== "string" || !/^[a-z0-9.:-]{1,32}$/.test(opts.release)) {
    throw new ScriptInputError(
      `${where}: release ${JSON.stringify(opts.release)} is not valid: use an Ubuntu release like 24.04`,
    );
  }
  const cpus = checkInt(opts.cpus, "cpus", where, 1, 256);
  for (const key of ["memory", "disk"] as const) {
    if (typeof opts[key] !== "string" || !/^\d+[KMG]$/.test(opts[key])) {
      throw new ScriptInputError(`${where}: ${key} ${JSON.stringify(opts[key])} is not valid: use a size like 4G`);
    }
  }
  if (typeof opts.cloudInit !== "string" || !opts.cloudInit.startsWith("#cloud-config\n")) {
    throw new ScriptInputError(`${where}: cloudInit is not valid: it must be cloud-init user-data starting with #cloud-config`);
  }
  const record = checkLocalPath(opts.recordPath, where);
  const timeout = checkInt(opts.timeoutSeconds ?? 900, "timeoutSeconds", where, 30, 86_400);
  const cloudInit = (opts.cloudInit.endsWith("\n") ? opts.cloudInit.slice(0, -1) : opts.cloudInit).split("\n");
  return script("multipass launch", [
    ...SUDO_PRELUDE,
    ...FAIL,
    `name=${q(instance)}`,
    `record=${q(record)}`,
    'command -v multipass >/dev/null 2>&1 || fail "multipass is not installed (https://multipass.run): the multipass provider needs it"',
    `command -v ssh-keygen >/dev/null 2>&1 || fail "ssh-keygen is not installed on this machine: it makes the VM's host key (apt-get install openssh-client)"`,
    'exists() { timeout 60 multipass info "$name" >/dev/null 2>&1; }',
    'ours() { as_root test -f "$record" && [ "$(as_root cat -- "$record")" = "$name" ]; }',
    "if exists; then",
    "  if ours; then",
    '    echo "c1m-lab: the multipass instance $name is this stack\'s, left by a create that did not finish: deleting it to launch anew" >&2',
    '    timeout 300 multipass delete --purge "$name"',
    "  else",
    '    fail "a multipass instance named $name exists and is not this lab\'s (the lab never adopts an instance it did not launch): delete it (multipass delete --purge $name) or set server.instance to another name"',
    "  fi",
    "fi",
    // Recorded before the launch: a create killed half-way leaves an instance the next one knows.
    'as_root mkdir -p -- "$(dirname -- "$record")"',
    'printf \'%s\\n\' "$name" | as_root tee -- "$record" >/dev/null',
    "undo() {",
    '  if exists && ! timeout 300 multipass delete --purge "$name" >/dev/null 2>&1; then',
    '    echo "c1m-lab: could not delete the multipass instance $name: delete it by hand (multipass delete --purge $name); $record keeps it this stack\'s for the next up" >&2',
    "    return",
    "  fi",
    '  as_root rm -f -- "$record"',
    '  as_root rmdir -- "$(dirname -- "$record")" "$(dirname -- "$(dirname -- "$record")")" 2>/dev/null || true',
    '  echo "c1m-lab: the create failed: deleted the multipass instance $name it launched" >&2',
    "}",
    'keydir=$(mktemp -d); hostkey="$keydir/ssh_host_ed25519_key"; userdata="$keydir/user-data"',
    'trap \'rc=$?; rm -rf -- "$keydir"; [ "$rc" = 0 ] || undo\' EXIT',
    `printf '%s\\n' ${cloudInit.map(q).join(" ")} > "$userdata"`,
    ...seedHostKeyLines('"$userdata"'),
    // Through stdin: the multipass snap cannot read files outside the user's home.
    `timeout ${timeout + 60} ${cmd("multipass", "launch", opts.release, "--name", instance, "--cpus", cpus, "--memory", opts.memory, "--disk", opts.disk)} --cloud-init - --timeout ${timeout} < "$userdata"`,
    'rm -rf -- "$keydir"',
    // The delete step reads this line (PULUMI_COMMAND_STDOUT): only an instance we launched is deleted.
    'echo "c1m-lab: launched multipass instance $name"',
    "rc=0",
    `timeout ${timeout} multipass exec "$name" -- cloud-init status --wait >/dev/null 2>&1 || rc=$?`,
    // 2 = finished with recoverable errors (cloud-init ≥ 23.4): the VM is usable.
    'case "$rc" in 0|2) ;; *) fail "cloud-init in $name did not finish cleanly (exit $rc): see multipass exec $name -- cloud-init status --long" ;; esac',
    'pubvm=$(timeout 60 multipass exec "$name" -- cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d " " -f 1,2) || pubvm=',
    '[ "$pubvm" = "$pub" ] || fail "$name presents another ssh host key (${pubvm:-none}) than the one its user-data gave it: cloud-init did not install it"',
    "trap - EXIT",
    'echo "c1m-lab: multipass instance $name is ready"',
    PRINT_HOST_KEY,
  ]);
}

/** Prints the instance's first IPv4 address (waits up to timeoutSeconds for one to appear). */
export function multipassAddressScript(instance: string, opts: { timeoutSeconds?: number } = {}): string {
  const where = "multipassAddressScript";
  const name = checkInstance(instance, where);
  const timeout = checkInt(opts.timeoutSeconds ?? 120, "timeoutSeconds", where, 1, 3600);
  return script("multipass address", [
    ...FAIL,
    `name=${q(name)}`,
    `deadline=$((SECONDS + ${timeout}))`,
    "while :; do",
    `  ip=$(timeout 60 multipass info "$name" --format json 2>/dev/null | ${MULTIPASS_JSON("(i.ipv4||[])[0]")}) || ip=`,
    '  if [ -n "$ip" ]; then printf \'%s\\n\' "$ip"; exit 0; fi',
    `  [ "$SECONDS" -lt "$deadline" ] || fail "multipass instance $name has no IPv4 address after ${timeout}s (is it running? multipass info $name)"`,
    "  sleep 2",
    "done",
  ]);
}

/** `multipass delete --purge` of the instance the create launched, then its record; idempotent. */
export function multipassDeleteScript(instance: string, recordPath: string): string {
  const name = checkInstance(instance, "multipassDeleteScript");
  const record = checkLocalPath(recordPath, "multipassDeleteScript");
  return script("multipass delete", [
    ...SUDO_PRELUDE,
    `name=${q(name)}`,
    `record=${q(record)}`,
    'forget() { as_root rm -f -- "$record"; as_root rmdir -- "$(dirname -- "$record")" "$(dirname -- "$(dirname -- "$record")")" 2>/dev/null || true; }',
    'if ! command -v multipass >/dev/null 2>&1; then echo "c1m-lab: multipass is not installed; nothing to delete"; forget; exit 0; fi',
    // An instance an earlier version of the lab adopted (it existed before) is the user's: left in place.
    'case "${PULUMI_COMMAND_STDOUT:-}" in',
    '  *"c1m-lab: launched multipass instance $name"*) ;;',
    '  *) echo "c1m-lab: multipass instance $name was adopted, not launched by the lab: left in place"; forget; exit 0 ;;',
    "esac",
    'if timeout 60 multipass info "$name" >/dev/null 2>&1; then',
    '  timeout 300 multipass delete --purge "$name"',
    '  echo "c1m-lab: deleted multipass instance $name"',
    "else",
    '  echo "c1m-lab: multipass instance $name does not exist; nothing to delete"',
    "fi",
    "forget",
  ]);
}

/** The cloud-init user-data for the multipass VM: the key for the user, nodejs installed. */
export function renderCloudInit(opts: { sshPublicKey: string; user: string; packages?: string[] }): string {
  const where = "renderCloudInit";
  const key = typeof opts.sshPublicKey === "string" ? opts.sshPublicKey.trim() : "";
  if (!SSH_PUBLIC_KEY.test(key)) {
    throw new ScriptInputError(
      `${where}: sshPublicKey is not valid: use one public key line like 'ssh-ed25519 AAAA... comment' (the .pub file)`,
    );
  }
  const user = checkUser(opts.user, where);
  const packages = opts.packages ?? ["nodejs"];
  for (const [i, p] of packages.entries()) {
    if (!/^[a-z0-9][a-z0-9+.-]*$/.test(p))
      throw new ScriptInputError(`${where}: packages[${i}] ${JSON.stringify(p)} is not a Debian package name`);
  }
  const users: unknown[] = ["default"];
  if (user !== "ubuntu") {
    users.push({ name: user, groups: ["sudo"], sudo: "ALL=(ALL) NOPASSWD:ALL", shell: "/bin/bash", ssh_authorized_keys: [key] });
  }
  const doc = new Document({ users, ssh_authorized_keys: [key], package_update: true, packages });
  return `#cloud-config\n${doc.toString()}`;
}

/** The multipass VM's cloud-init: renderCloudInit's user and key, and Node.js 20 from the snap store (Ubuntu's nodejs package is older). */
export function vmCloudInit(opts: { sshPublicKey: string; user: string }): string {
  const base = parse(renderCloudInit({ sshPublicKey: opts.sshPublicKey, user: opts.user, packages: [] })) as Record<
    string,
    unknown
  >;
  delete base.packages;
  delete base.package_update;
  base.runcmd = [
    ["snap", "wait", "system", "seed.loaded"],
    ["snap", "install", "node", "--classic", "--channel=20"],
  ];
  return `#cloud-config\n${new Document(base).toString({ lineWidth: 0 })}`;
}

function checkLocalPath(path: string, where: string): string {
  if (typeof path !== "string" || !/^\/[A-Za-z0-9_.+@/-]*[A-Za-z0-9_.+@-]$/.test(path) || path.split("/").includes("..")) {
    throw new ScriptInputError(`${where}: path ${JSON.stringify(path)} is not valid: use an absolute file path`);
  }
  return path;
}
