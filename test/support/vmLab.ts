// Literal resource lists of the lab on a VM (ssh, multipass, qemu), shared by the program-vm and
// program-qemu tests: after the host, every VM provider registers the same steps.

/** [name, type, parent] of a registered resource. */
export type GraphRow = [name: string, type: string, parent: string | null];

/** The ssh wait and the upload directory: under `parent`, named after it. */
export function sshHostGraph(parent: string): GraphRow[] {
  return [
    [`${parent}-wait`, "command:local:Command", parent],
    [`${parent}-staging`, "command:remote:Command", parent],
  ];
}

/** Addresses (netplan drop-in), tuning, the server unit: the same on every VM provider. */
export const VM_SERVER_GRAPH: GraphRow[] = [
  ["secondary-ips", "c1m-lab:server:VmSecondaryIps", "lab"],
  ["secondary-ips-probe", "command:remote:Command", "secondary-ips"],
  ["secondary-ips-drop-in", "command:remote:Command", "secondary-ips"],
  ["secondary-ips-netplan", "command:remote:Command", "secondary-ips"],
  ["tuning", "c1m-lab:server:VmTuning", "lab"],
  ["tuning-sysctls", "command:remote:Command", "tuning"],
  ["tuning-nat-host", "command:local:Command", "tuning"],
  ["connection-server", "c1m-lab:server:VmConnectionServer", "lab"],
  ["connection-server-workload", "command:remote:CopyToRemote", "connection-server"],
  ["connection-server-unit", "command:remote:Command", "connection-server"],
];

/** The client fleet (one network, `containers` containers, our NAT pool step, empty when not narrowed) and the connection test. */
export function clientGraph(stack: string, containers: number): GraphRow[] {
  return [
    ["clients", "c1m-lab:clients:ClientFleet", "lab"],
    ["clients-base-image", "command:local:Command", "clients"],
    ["clients-image", "docker:index/image:Image", "clients"],
    ["clients-image-cleanup", "command:local:Command", "clients"],
    [`clients-c1m-${stack}-clients`, "docker:index/network:Network", "clients"],
    ["clients-nat-pool", "command:local:Command", "clients"],
    ["clients-sweep", "command:local:Command", "clients"],
    ...Array.from({ length: containers }, (_, i): GraphRow => [
      `clients-c1m-${stack}-client-${i}`,
      "docker:index/container:Container",
      "clients",
    ]),
    ...Array.from({ length: containers }, (_, i): GraphRow => [
      `clients-c1m-${stack}-client-${i}-drain`,
      "command:local:Command",
      "clients",
    ]),
    ["clients-stop", "command:local:Command", "clients"],
    ["connection-test", "c1m-lab:test:ConnectionTest", "lab"],
    ["connection-test-install", "command:local:Command", "connection-test"],
    ["connection-test-verify", "command:local:Command", "connection-test"],
  ];
}

/** The stack's pinned facts (infra/plan/pinned.ts): registered last, at the top level. */
export const PINNED_ROW: GraphRow = ["pinned-facts", "command:local:Command", null];

/** The server unit's hardening, as literal lines (infra/server/vm/scripts/unit.ts must write these). */
export const UNIT_HARDENING = [
  "DynamicUser=yes",
  "NoNewPrivileges=yes",
  "ProtectSystem=strict",
  "ProtectHome=yes",
  "PrivateTmp=yes",
  "ProtectKernelTunables=yes",
  "ProtectControlGroups=yes",
  "RestrictSUIDSGID=yes",
];
