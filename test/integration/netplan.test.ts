// The drop-in against the real `netplan generate --root-dir` (Debian netplan.io): what
// systemd-networkd would get. Config files in temp dirs only; no interface is touched, no traffic.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { before, describe, test } from "node:test";
import { NetplanError, findNetplanId, renderNetplanDropIn } from "../../netplan/render.js";
import { validateWithNetplan } from "../../netplan/validate.js";

const CLOUD_INIT = `# This file is generated from information provided by the datasource.  Changes
# to it will not persist across an instance reboot.
network:
    ethernets:
        ens3:
            dhcp4: true
            match:
                macaddress: 52:54:00:12:34:56
            set-name: ens3
    version: 2
`;

// The article's Ubuntu server: NAT adapter enp0s3 (DHCP), host-only enp0s8 with a static address.
const ARTICLE = `# This is the network config written by 'subiquity'
network:
  ethernets:
    enp0s3:
      dhcp4: true
    enp0s8:
      dhcp4: no
      addresses: [192.168.49.10/24]
  version: 2
`;

const THREE = ["10.0.0.5/24", "10.0.0.6/24", "10.0.0.7/24"];

const addressLines = (text: string | undefined) => (text ?? "").split("\n").filter((l) => l.startsWith("Address="));
/** networkd applies the first .network file (by name) whose [Match] fits the link. */
const firstMatching = (files: Record<string, string>, match: string) =>
  Object.keys(files)
    .filter((n) => n.endsWith(".network") && files[n]!.includes(match))
    .sort()[0];
const leftovers = () => readdirSync(tmpdir()).filter((n) => n.startsWith("c1m-netplan-")).length;

before(() => {
  const r = spawnSync("netplan", ["--help"]);
  assert.equal(r.status, 0, "netplan (netplan.io) must be installed for these tests");
});

describe("netplan generate with the c1m-lab drop-in", () => {
  test("cloud-init's ens3 (match macaddress + set-name + dhcp4) + our drop-in for 3 addresses: one .network file with DHCP and an Address= per address", async () => {
    const existing = [{ name: "50-cloud-init.yaml", text: CLOUD_INIT }];
    const id = findNetplanId(
      existing.map((f) => ({ path: `/etc/netplan/${f.name}`, text: f.text })),
      "ens3",
    );
    const before = leftovers();
    const result = await validateWithNetplan({ existing, dropIn: renderNetplanDropIn({ netplanId: id, addresses: THREE }) });
    assert.equal(result.ok, true, result.stderr);
    const network = result.networkdFiles["10-netplan-ens3.network"];
    assert.deepEqual(
      addressLines(network),
      THREE.map((a) => `Address=${a}`),
    );
    assert.match(network!, /^DHCP=ipv4$/m);
    assert.match(network!, /^PermanentMACAddress=52:54:00:12:34:56$/m);
    assert.deepEqual(
      Object.keys(result.networkdFiles).filter((n) => n.endsWith(".network")),
      ["10-netplan-ens3.network"],
    );
    assert.equal(leftovers(), before, "the temp root is removed");
  });

  test("failure mode: a drop-in under a NEW ID matching the same NIC is accepted by netplan, yet one config is lost", async () => {
    // netplan merges only definitions with the same ID. A new ID that matches the same MAC becomes
    // a second 10-netplan-<id>.network file; systemd-networkd applies only the first file (by name)
    // whose [Match] fits the link, so either our addresses or the host's own DHCP config is ignored,
    // and `netplan generate` reports no error. That is why renderNetplanDropIn takes the existing ID.
    const existing = [{ name: "50-cloud-init.yaml", text: CLOUD_INIT }];
    const mac = "PermanentMACAddress=52:54:00:12:34:56";
    for (const [newId, lost] of [
      ["lab0", "addresses"], // sorts after ens3: networkd uses 10-netplan-ens3.network, our addresses are ignored
      ["c1m", "dhcp"], // sorts before ens3: networkd uses ours, the host loses DHCP (and its primary address)
    ] as const) {
      const dropIn = `network:\n  version: 2\n  ethernets:\n    ${newId}:\n      match: {macaddress: "52:54:00:12:34:56"}\n      addresses: [${THREE.join(", ")}]\n`;
      const result = await validateWithNetplan({ existing, dropIn });
      assert.equal(result.ok, true, "netplan does not reject it");
      const matching = Object.keys(result.networkdFiles).filter(
        (n) => n.endsWith(".network") && result.networkdFiles[n]!.includes(mac),
      );
      assert.deepEqual(
        matching.sort(),
        [`10-netplan-${newId}.network`, "10-netplan-ens3.network"].sort(),
        "two files match one NIC",
      );
      const applied = result.networkdFiles[firstMatching(result.networkdFiles, mac)!]!;
      if (lost === "addresses") {
        assert.deepEqual(addressLines(applied), [], `with ID ${newId} the applied file has none of our addresses`);
        assert.match(applied, /^DHCP=ipv4$/m);
      } else {
        assert.deepEqual(
          addressLines(applied),
          THREE.map((a) => `Address=${a}`),
        );
        assert.doesNotMatch(applied, /^DHCP=/m, `with ID ${newId} the applied file has no DHCP`);
      }
    }
    // The same addresses under the existing ID: one file, nothing lost.
    const right = await validateWithNetplan({ existing, dropIn: renderNetplanDropIn({ netplanId: "ens3", addresses: THREE }) });
    const applied = right.networkdFiles[firstMatching(right.networkdFiles, mac)!]!;
    assert.equal(addressLines(applied).length, 3);
    assert.match(applied, /^DHCP=ipv4$/m);
  });

  test("the article's layout: 00-installer-config.yaml enp0s8 static .10 gets .15/24 and .25/24; enp0s3 untouched", async () => {
    const existing = [{ name: "00-installer-config.yaml", text: ARTICLE }];
    const id = findNetplanId([{ path: "/etc/netplan/00-installer-config.yaml", text: ARTICLE }], "enp0s8");
    assert.equal(id, "enp0s8");
    const result = await validateWithNetplan({
      existing,
      dropIn: renderNetplanDropIn({ netplanId: id, addresses: ["192.168.49.15/24", "192.168.49.25/24"] }),
    });
    assert.equal(result.ok, true, result.stderr);
    assert.deepEqual(addressLines(result.networkdFiles["10-netplan-enp0s8.network"]), [
      "Address=192.168.49.10/24",
      "Address=192.168.49.15/24",
      "Address=192.168.49.25/24",
    ]);
    assert.match(result.networkdFiles["10-netplan-enp0s8.network"]!, /^Name=enp0s8$/m);
    assert.deepEqual(addressLines(result.networkdFiles["10-netplan-enp0s3.network"]), []);
    assert.match(result.networkdFiles["10-netplan-enp0s3.network"]!, /^DHCP=ipv4$/m);
  });

  test("bad interface or address: our clear error, before any file is written", async () => {
    const files = [{ path: "/etc/netplan/50-cloud-init.yaml", text: CLOUD_INIT }];
    const before = leftovers();
    let validated = false;
    const attempt = async (iface: string, addresses: string[]) => {
      const dropIn = renderNetplanDropIn({ netplanId: findNetplanId(files, iface), addresses });
      validated = true;
      return validateWithNetplan({ existing: [{ name: "50-cloud-init.yaml", text: CLOUD_INIT }], dropIn });
    };
    await assert.rejects(
      attempt("ens9", THREE),
      (err: Error) =>
        err instanceof NetplanError &&
        err.message === "interface ens9 is not in any netplan file: found ens3 in /etc/netplan/50-cloud-init.yaml",
    );
    await assert.rejects(
      attempt("ens3", ["10.0.0.5/24", "10.0.0.256/24"]),
      /addresses\[1\] "10.0.0.256\/24" is not valid: use an IPv4 address with prefix length/,
    );
    await assert.rejects(attempt("ens3", ["10.0.0.5"]), /addresses\[0\] "10.0.0.5" is not valid/);
    assert.equal(validated, false, "netplan was never run");
    assert.equal(leftovers(), before, "no temp root was created");
    await assert.rejects(
      validateWithNetplan({ existing: [{ name: "../escape.yaml", text: "" }], dropIn: "" }),
      /existing\[0\]\.name "..\/escape.yaml" is not valid/,
    );
  });

  test("what netplan itself rejects comes back as ok=false with its message (and nothing for networkd)", async () => {
    const dropIn = "network:\n  version: 2\n  ethernets:\n    ens3:\n      addresses: [10.0.0.300/24]\n";
    const result = await validateWithNetplan({ existing: [{ name: "50-cloud-init.yaml", text: CLOUD_INIT }], dropIn });
    assert.equal(result.ok, false);
    assert.match(result.stderr, /60-c1m-lab\.yaml.*malformed address '10\.0\.0\.300\/24'/);
    assert.deepEqual(result.networkdFiles, {});
  });
});
