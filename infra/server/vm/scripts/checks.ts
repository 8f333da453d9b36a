// Input checks shared by the VM script builders. The config schema constrains most of these
// already; the builders do not rely on it, so a value that reaches a script is always checked.
import { isInterfaceName, isIpv4Cidr } from "../../../../netplan/render.js";
import { SUDO_PRELUDE, ScriptInputError } from "../../../shell.js";

/**
 * Remote prelude: root or passwordless sudo; the sbin directories (ip, sysctl, netplan) and the
 * usual Node.js locations (/usr/local/bin, /snap/bin) on PATH even for a plain user.
 */
export const REMOTE = [...SUDO_PRELUDE, 'PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin:/usr/local/bin:/snap/bin"'];

export function checkRoot(root: string | undefined, where: string): string {
  const r = root ?? "";
  if (r !== "" && (!/^\/[A-Za-z0-9_./-]*[A-Za-z0-9_.-]$/.test(r) || r.split("/").includes(".."))) {
    throw new ScriptInputError(
      `${where}: root ${JSON.stringify(r)} is not valid: use "" or an absolute directory path without a trailing slash`,
    );
  }
  return r;
}

export function checkPath(value: string, name: string, where: string): string {
  if (typeof value !== "string" || value === "" || /[\0\n\r]/.test(value)) {
    throw new ScriptInputError(
      `${where}: ${name} ${JSON.stringify(value)} is not valid: use a non-empty file path without newlines`,
    );
  }
  return value;
}

export function checkAbsolute(value: string, name: string, where: string): string {
  if (typeof value !== "string" || !/^\/[A-Za-z0-9_.+@/-]*$/.test(value) || value.split("/").includes("..")) {
    throw new ScriptInputError(
      `${where}: ${name} ${JSON.stringify(value)} is not valid: use an absolute path of letters, digits, '_', '.', '+', '@', '-', '/'`,
    );
  }
  return value;
}

export function checkIface(iface: string, where: string): string {
  if (typeof iface !== "string" || !isInterfaceName(iface)) {
    throw new ScriptInputError(
      `${where}: iface ${JSON.stringify(iface)} is not valid: use an interface name (1-15 letters, digits, '_', '.', '-'), e.g. ens3`,
    );
  }
  return iface;
}

export function checkAddresses(addresses: string[], where: string): string[] {
  if (!Array.isArray(addresses) || addresses.length === 0) {
    throw new ScriptInputError(`${where}: addresses must list at least one address like 192.168.49.15/24`);
  }
  for (const [i, a] of addresses.entries()) {
    if (typeof a !== "string" || !isIpv4Cidr(a)) {
      throw new ScriptInputError(
        `${where}: addresses[${i}] ${JSON.stringify(a)} is not valid: use an IPv4 address with prefix length like 192.168.49.15/24`,
      );
    }
  }
  return addresses;
}

export function checkInt(value: number, name: string, where: string, min: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw new ScriptInputError(
      `${where}: ${name} ${JSON.stringify(value)} is not valid: use a whole number from ${min} to ${max}`,
    );
  }
  return value;
}

export function checkHost(value: string, name: string, where: string): string {
  if (typeof value !== "string" || !/^[A-Za-z0-9]([A-Za-z0-9.:-]{0,251}[A-Za-z0-9])?$/.test(value)) {
    throw new ScriptInputError(`${where}: ${name} ${JSON.stringify(value)} is not valid: use a host name or IP address`);
  }
  return value;
}

export function checkUser(value: string, where: string): string {
  if (typeof value !== "string" || !/^[a-z_][a-z0-9_-]{0,31}$/.test(value)) {
    throw new ScriptInputError(`${where}: user ${JSON.stringify(value)} is not valid: use a Unix user name like ubuntu`);
  }
  return value;
}

export function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export const SSH_PUBLIC_KEY =
  /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\r\n]*)?$/;
