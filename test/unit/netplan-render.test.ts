// The netplan drop-in renderer and the netplan-ID lookup: pure, no netplan binary needed
// (test/integration/netplan.test.ts runs the rendered text through the real `netplan generate`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parse } from "yaml";
import {
  DROP_IN_PATH,
  NetplanError,
  findNetplanDevice,
  findNetplanId,
  globToRegExp,
  orderNetplanFiles,
  renderNetplanDropIn,
} from "../../netplan/render.js";

const CLOUD_INIT = {
  path: "/etc/netplan/50-cloud-init.yaml",
  text: `# This file is generated from information provided by the datasource.
network:
    ethernets:
        ens3:
            dhcp4: true
            match:
                macaddress: 52:54:00:12:34:56
            set-name: ens3
    version: 2
`,
};

const ARTICLE = {
  path: "/etc/netplan/00-installer-config.yaml",
  text: `# This is the network config written by 'subiquity'
network:
  ethernets:
    enp0s3:
      dhcp4: true
    enp0s8:
      dhcp4: no
      addresses: [192.168.49.10/24]
  version: 2
`,
};

describe("renderNetplanDropIn", () => {
  test("puts the addresses under the given ID in network.ethernets, version 2, via a YAML document", () => {
    const text = renderNetplanDropIn({ netplanId: "ens3", addresses: ["10.0.0.5/24", "10.0.0.6/24", "10.0.0.7/24"] });
    assert.deepEqual(parse(text), {
      network: { version: 2, ethernets: { ens3: { addresses: ["10.0.0.5/24", "10.0.0.6/24", "10.0.0.7/24"] } } },
    });
    assert.match(text, /^# Written by c1m-lab/);
    assert.equal(DROP_IN_PATH, "/etc/netplan/60-c1m-lab.yaml");
  });

  test("renderer and device type only when asked; an ID that looks like a number stays a string", () => {
    assert.deepEqual(
      parse(renderNetplanDropIn({ netplanId: "br0", addresses: ["10.0.0.5/24"], renderer: "networkd", deviceType: "bridges" })),
      {
        network: { version: 2, renderer: "networkd", bridges: { br0: { addresses: ["10.0.0.5/24"] } } },
      },
    );
    const numeric = parse(renderNetplanDropIn({ netplanId: "0", addresses: ["10.0.0.5/24"] }));
    assert.deepEqual(Object.keys(numeric.network.ethernets), ["0"]);
    assert.equal("renderer" in parse(renderNetplanDropIn({ netplanId: "ens3", addresses: ["10.0.0.5/24"] })).network, false);
  });

  test("rejects a bad ID, naming the argument and what is valid", () => {
    for (const id of ["", "ens 3", "ens3: {}", "-ens3", "a/b", "x".repeat(65), "ens3\n", "{ens3}"]) {
      assert.throws(
        () => renderNetplanDropIn({ netplanId: id, addresses: ["10.0.0.5/24"] }),
        (err: Error) =>
          err instanceof NetplanError &&
          /netplanId .* is not valid: use the ID of the existing netplan definition/.test(err.message),
        `id ${JSON.stringify(id)}`,
      );
    }
  });

  test("rejects bad addresses with their index, and empty or duplicate lists", () => {
    const bad = [
      "10.0.0.5",
      "10.0.0.300/24",
      "10.0.0.5/33",
      "10.0.0.5/0",
      "010.0.0.5/24",
      "10.0.0.5/24; rm -rf /",
      "fe80::1/64",
      " 10.0.0.5/24",
    ];
    for (const a of bad) {
      assert.throws(
        () => renderNetplanDropIn({ netplanId: "ens3", addresses: ["10.0.0.4/24", a] }),
        (err: Error) =>
          err instanceof NetplanError &&
          err.message.includes(`addresses[1] ${JSON.stringify(a)} is not valid: use an IPv4 address with prefix length`),
        a,
      );
    }
    assert.throws(() => renderNetplanDropIn({ netplanId: "ens3", addresses: [] }), /addresses must list at least one address/);
    assert.throws(
      () => renderNetplanDropIn({ netplanId: "ens3", addresses: ["10.0.0.5/24", "10.0.0.5/16"] }),
      /addresses\[1\] 10\.0\.0\.5\/16 repeats address 10\.0\.0\.5/,
    );
    assert.throws(
      () => renderNetplanDropIn({ netplanId: "ens3", addresses: ["10.0.0.5/24"], renderer: "systemd" as "networkd" }),
      /renderer "systemd" is not valid: use networkd or NetworkManager/,
    );
  });
});

describe("findNetplanId", () => {
  test("cloud-init: match macaddress + set-name resolves to the set-name", () => {
    assert.equal(findNetplanId([CLOUD_INIT], "ens3"), "ens3");
  });

  test("cloud-init with an ID that differs from the name it sets", () => {
    const file = {
      path: "/etc/netplan/50-cloud-init.yaml",
      text: "network: {version: 2, ethernets: {id0: {match: {macaddress: '52:54:00:aa:bb:cc'}, set-name: eth0, dhcp4: true}}}",
    };
    assert.equal(findNetplanId([file], "eth0"), "id0");
    assert.throws(
      () => findNetplanId([file], "id0"),
      /interface id0 is not in any netplan file: found id0 \(set-name eth0\) in \/etc\/netplan\/50-cloud-init.yaml/,
    );
  });

  test("the article's installer config: the key is the interface name", () => {
    assert.equal(findNetplanId([ARTICLE], "enp0s8"), "enp0s8");
    assert.equal(findNetplanId([ARTICLE], "enp0s3"), "enp0s3");
  });

  test("an interface in no file: the error names it and what was found, per file", () => {
    assert.throws(
      () => findNetplanId([CLOUD_INIT], "ens9"),
      (err: Error) =>
        err instanceof NetplanError &&
        err.message === "interface ens9 is not in any netplan file: found ens3 in /etc/netplan/50-cloud-init.yaml",
    );
    assert.throws(
      () => findNetplanId([ARTICLE, CLOUD_INIT], "ens9"),
      /found enp0s3 and enp0s8 in \/etc\/netplan\/00-installer-config.yaml, ens3 in \/etc\/netplan\/50-cloud-init.yaml$/,
    );
    assert.throws(() => findNetplanId([], "ens3"), /interface ens3 is not in any netplan file: no netplan files were found/);
    assert.throws(
      () => findNetplanId([{ path: "/etc/netplan/01.yaml", text: "# empty\n" }], "ens3"),
      /the netplan files define no interfaces/,
    );
  });

  test("match by MAC without set-name resolves through the host's links; a missing interface is named", () => {
    const file = {
      path: "/etc/netplan/10-lan.yaml",
      text: "network: {version: 2, ethernets: {lan: {match: {macaddress: '52:54:00:AA:BB:CC'}, dhcp4: true}}}",
    };
    const links = [{ name: "lo" }, { name: "ens4", mac: "52:54:00:aa:bb:cc" }];
    assert.equal(findNetplanId([file], "ens4", { links }), "lan");
    assert.throws(
      () => findNetplanId([file], "ens4"),
      /interface ens4 is not in any netplan file: found lan \(match macaddress 52:54:00:AA:BB:CC\)/,
    );
    assert.throws(
      () => findNetplanId([file], "ens9", { links }),
      /interface ens9 does not exist on the host \(it has: lo, ens4\)/,
    );
  });

  test("match by name glob", () => {
    const file = {
      path: "/etc/netplan/01.yaml",
      text: "network: {version: 2, ethernets: {all-en: {match: {name: 'en*'}, dhcp4: true}}}",
    };
    assert.equal(findNetplanId([file], "enp0s8"), "all-en");
    assert.throws(() => findNetplanId([file], "eth0"), /not in any netplan file/);
  });

  test("several IDs for one interface is an error (networkd would apply only one)", () => {
    const other = {
      path: "/etc/netplan/70-extra.yaml",
      text: "network: {version: 2, ethernets: {extra: {match: {name: ens3}, addresses: [10.9.0.1/24]}}}",
    };
    assert.throws(
      () => findNetplanId([CLOUD_INIT, other], "ens3"),
      /interface ens3 is configured by several netplan IDs \(ens3 in \/etc\/netplan\/50-cloud-init.yaml; extra in \/etc\/netplan\/70-extra.yaml\)/,
    );
  });

  test("definitions of one ID merge across files; our own earlier drop-in is ignored", () => {
    const base = {
      path: "/etc/netplan/50-a.yaml",
      text: "network: {version: 2, ethernets: {nic: {match: {macaddress: '52:54:00:00:00:01'}}}}",
    };
    const later = { path: "/etc/netplan/55-b.yaml", text: "network: {version: 2, ethernets: {nic: {set-name: ens7}}}" };
    assert.deepEqual(findNetplanDevice([later, base], "ens7"), {
      id: "nic",
      type: "ethernets",
      paths: ["/etc/netplan/50-a.yaml", "/etc/netplan/55-b.yaml"],
    });
    const stale = {
      path: "/etc/netplan/60-c1m-lab.yaml",
      text: "network: {version: 2, ethernets: {ens7: {addresses: [10.0.0.5/24]}}}",
    };
    assert.equal(findNetplanId([base, later, stale], "ens7"), "nic");
  });

  test("/run shadows /etc shadows /lib by file name", () => {
    const etc = { path: "/etc/netplan/50-cloud-init.yaml", text: CLOUD_INIT.text };
    const run = { path: "/run/netplan/50-cloud-init.yaml", text: CLOUD_INIT.text.replace(/ens3/g, "ens5") };
    const lib = { path: "/lib/netplan/50-cloud-init.yaml", text: "network: {version: 2}" };
    assert.deepEqual(
      orderNetplanFiles([run, etc, lib]).map((f) => f.path),
      ["/run/netplan/50-cloud-init.yaml"],
    );
    assert.equal(findNetplanId([lib, etc, run], "ens5"), "ens5");
    assert.throws(() => findNetplanId([lib, etc, run], "ens3"), /found ens5 in \/run\/netplan\/50-cloud-init.yaml/);
  });

  test("bridges and bonds: the ID is the interface, and the type comes back", () => {
    const file = {
      path: "/etc/netplan/01.yaml",
      text: "network: {version: 2, ethernets: {eno1: {}}, bridges: {br0: {interfaces: [eno1], dhcp4: true}}}",
    };
    assert.deepEqual(findNetplanDevice([file], "br0"), { id: "br0", type: "bridges", paths: ["/etc/netplan/01.yaml"] });
  });

  test("bad YAML and bad interface names are clear errors", () => {
    assert.throws(
      () => findNetplanId([{ path: "/etc/netplan/01.yaml", text: "network: [unclosed" }], "ens3"),
      /netplan file \/etc\/netplan\/01.yaml is not valid YAML/,
    );
    assert.throws(
      () => findNetplanId([CLOUD_INIT], "ens3; reboot"),
      /interface "ens3; reboot" is not valid: use an interface name/,
    );
  });

  test("globToRegExp follows fnmatch", () => {
    assert.equal(globToRegExp("en*").test("enp0s8"), true);
    assert.equal(globToRegExp("eth?").test("eth10"), false);
    assert.equal(globToRegExp("eth[0-2]").test("eth1"), true);
    assert.equal(globToRegExp("eth[!0-2]").test("eth1"), false);
    assert.equal(globToRegExp("a.b").test("axb"), false);
  });
});
