// multipass on this machine: launch, address, delete, and the cloud-init file `multipass launch`
// reads (the lab's user and key, Node.js 20 from the snap store, the VM's ssh host key made here).
// Pure: each returns a bash script.
import { Document, parse } from "yaml";
import { FAIL, ScriptInputError, cmd, q, script } from "../../../shell.js";
import { SSH_PUBLIC_KEY, checkInt, checkPath, checkUser } from "../scripts/checks.js";
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
  /** The file renderCloudInit's text was written to. */
  cloudInitPath: string;
  /** Bound for launch and for cloud-init to finish; default 900 s. */
  timeoutSeconds?: number;
}

/** Beside the cloud-init file: the VM's ssh host key (its private half goes into that file). */
export function hostKeyPath(cloudInitPath: string): string {
  const at = cloudInitPath.lastIndexOf("/");
  return `${at < 0 ? "." : cloudInitPath.slice(0, at)}/ssh_host_ed25519_key`;
}

/**
 * Launches the VM, or adopts (and starts) an existing instance of the same name; waits for
 * cloud-init. Then prints the VM's ssh host key, read through multipass's own channel
 * (`multipass exec`, not ssh): on a VM it launched, it must be the one the cloud-init file gave
 * it; an adopted instance keeps its own, and that one is pinned.
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
  const cloudInit = checkPath(opts.cloudInitPath, "cloudInitPath", where);
  const timeout = checkInt(opts.timeoutSeconds ?? 900, "timeoutSeconds", where, 30, 86_400);
  return script("multipass launch", [
    ...FAIL,
    `name=${q(instance)}`,
    `cloudinit=${q(cloudInit)}`,
    `hostkey=${q(hostKeyPath(cloudInit))}`,
    "launched=0",
    'command -v multipass >/dev/null 2>&1 || fail "multipass is not installed (https://multipass.run): the multipass provider needs it"',
    'if timeout 60 multipass info "$name" >/dev/null 2>&1; then',
    `  state=$(timeout 60 multipass info "$name" --format json 2>/dev/null | ${MULTIPASS_JSON("i.state")}) || state=`,
    '  echo "c1m-lab: adopting the existing multipass instance $name (state ${state:-unknown}); its release, cpus, memory and disk are left as they are"',
    '  case "$state" in',
    "    Running) ;;",
    '    Deleted) timeout 120 multipass recover "$name"; timeout 600 multipass start "$name" ;;',
    '    *) timeout 600 multipass start "$name" ;;',
    "  esac",
    "else",
    '  [ -f "$cloudinit" ] || fail "the cloud-init file $cloudinit is missing"',
    // Through stdin: the multipass snap cannot read files outside the user's home.
    `  timeout ${timeout + 60} ${cmd("multipass", "launch", opts.release, "--name", instance, "--cpus", cpus, "--memory", opts.memory, "--disk", opts.disk)} --cloud-init - --timeout ${timeout} < "$cloudinit"`,
    // The delete step reads this line (PULUMI_COMMAND_STDOUT): only an instance we launched is deleted.
    '  echo "c1m-lab: launched multipass instance $name"',
    "  launched=1",
    "fi",
    "rc=0",
    `timeout ${timeout} multipass exec "$name" -- cloud-init status --wait >/dev/null 2>&1 || rc=$?`,
    // 2 = finished with recoverable errors (cloud-init ≥ 23.4): the VM is usable.
    'case "$rc" in 0|2) ;; *) fail "cloud-init in $name did not finish cleanly (exit $rc): see multipass exec $name -- cloud-init status --long" ;; esac',
    'pub=$(timeout 60 multipass exec "$name" -- cat /etc/ssh/ssh_host_ed25519_key.pub | cut -d " " -f 1,2) || pub=',
    '[ -n "$pub" ] || fail "cannot read the ssh host key of $name (multipass exec $name -- cat /etc/ssh/ssh_host_ed25519_key.pub): it has no ed25519 host key to pin"',
    'if [ "$launched" = 1 ] && [ "$pub" != "$(cut -d " " -f 1,2 < "$hostkey.pub")" ]; then',
    '  fail "$name presents another ssh host key than the one its cloud-init file gave it ($hostkey.pub): cloud-init did not install it"',
    "fi",
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

/** `multipass delete --purge`, idempotent. */
export function multipassDeleteScript(instance: string): string {
  const name = checkInstance(instance, "multipassDeleteScript");
  return script("multipass delete", [
    `name=${q(name)}`,
    'if ! command -v multipass >/dev/null 2>&1; then echo "c1m-lab: multipass is not installed; nothing to delete"; exit 0; fi',
    // An instance the lab adopted (it existed before) is the user's: left in place.
    'case "${PULUMI_COMMAND_STDOUT:-}" in',
    '  *"c1m-lab: launched multipass instance $name"*) ;;',
    '  *) echo "c1m-lab: multipass instance $name was adopted, not launched by the lab: left in place"; exit 0 ;;',
    "esac",
    'if timeout 60 multipass info "$name" >/dev/null 2>&1; then',
    '  timeout 300 multipass delete --purge "$name"',
    '  echo "c1m-lab: deleted multipass instance $name"',
    "else",
    '  echo "c1m-lab: multipass instance $name does not exist; nothing to delete"',
    "fi",
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

/**
 * Writes the cloud-init text (0600) for `multipass launch --cloud-init`, with a new ssh host key
 * for the VM made beside it (scripts/hostKey.ts) appended; prints the public key.
 */
export function writeCloudInitScript(path: string, text: string): string {
  const file = checkLocalPath(path, "writeCloudInitScript");
  const lines = (text.endsWith("\n") ? text.slice(0, -1) : text).split("\n");
  return script("cloud-init file write", [
    ...FAIL,
    `file=${q(file)}`,
    `hostkey=${q(hostKeyPath(file))}`,
    `command -v ssh-keygen >/dev/null 2>&1 || fail "ssh-keygen is not installed on this machine: it makes the VM's host key (apt-get install openssh-client)"`,
    "umask 077",
    'mkdir -p -- "$(dirname -- "$file")"',
    `printf '%s\\n' ${lines.map(q).join(" ")} > "$file.tmp"`,
    ...seedHostKeyLines('"$file.tmp"'),
    'mv -f -- "$file.tmp" "$file"',
    'echo "c1m-lab: wrote $file"',
    PRINT_HOST_KEY,
  ]);
}

/** Removes the cloud-init file and the host key beside it (and their directory when empty); idempotent. */
export function removeCloudInitScript(path: string): string {
  const file = checkLocalPath(path, "removeCloudInitScript");
  return script("cloud-init file remove", [
    `file=${q(file)}`,
    `hostkey=${q(hostKeyPath(file))}`,
    'rm -f -- "$file" "$file.tmp" "$hostkey" "$hostkey.pub"',
    'rmdir -- "$(dirname -- "$file")" 2>/dev/null || true',
  ]);
}
