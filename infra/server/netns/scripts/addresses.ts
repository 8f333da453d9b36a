// The lab's secondary addresses inside the server namespace. Pure: idempotent bash scripts.
import { SUDO_PRELUDE, cmd, script } from "../../../shell.js";
import { nsExists } from "./host.js";

export interface AddressesArgs {
  namespace: string;
  interface: string;
  addresses: string[]; // CIDR
}

export function netnsAddressesCreateScript(a: AddressesArgs): string {
  return script("secondary IPs create", [
    ...SUDO_PRELUDE,
    ...a.addresses.map((addr) => `as_root ${cmd("ip", "-n", a.namespace, "addr", "replace", addr, "dev", a.interface)}`),
  ]);
}

export function netnsAddressesDeleteScript(a: AddressesArgs): string {
  return script("secondary IPs delete", [
    ...SUDO_PRELUDE,
    `${nsExists(a.namespace)} || exit 0`,
    ...a.addresses.map(
      (addr) => `as_root ${cmd("ip", "-n", a.namespace, "addr", "del", addr, "dev", a.interface)} 2>/dev/null || true`,
    ),
  ]);
}
