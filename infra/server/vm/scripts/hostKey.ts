// The ssh host key of a VM the lab makes (qemu, multipass): generated on this machine before the
// VM exists, handed to the VM in its cloud-init user-data (`ssh_keys`, cloud-init's cc_ssh), and
// pinned by every ssh connection to it. The private half stays in the stack's root-only
// directory on this machine (next to the disk or the cloud-init file) and in the user-data
// beside it; only the public half is printed, so only it reaches the Pulumi state. Pure.
import { isHostKeyLine } from "../../../config/schema.js";

/** The line a create step prints with the VM's public host key. */
export const HOST_KEY_LINE = "c1m-lab: ssh host key ";

/**
 * Script lines: a new ed25519 key at "$hostkey" (any old one removed first), appended to the
 * user-data file `userData` (a shell word) as cloud-init's ssh_keys, the image's own host keys
 * deleted at first boot (ssh_deletekeys); leaves the public key, without comment, in "$pub".
 * The user-data must end with a top-level key (the block is appended at column 0).
 */
export function seedHostKeyLines(userData: string): string[] {
  return [
    'rm -f -- "$hostkey" "$hostkey.pub"',
    '(umask 077; timeout 60 ssh-keygen -q -t ed25519 -N "" -C "" -f "$hostkey" </dev/null)',
    'pub=$(cut -d " " -f 1,2 < "$hostkey.pub")',
    "{",
    "  printf '%s\\n' 'ssh_deletekeys: true' 'ssh_keys:' '  ed25519_private: |'",
    "  sed 's/^/    /' \"$hostkey\"",
    "  printf '  ed25519_public: %s\\n' \"$pub\"",
    `} >> ${userData}`,
  ];
}

/** The line that prints "$pub" (after seedHostKeyLines) for hostKeyFrom to read. */
export const PRINT_HOST_KEY = `printf '%s%s\\n' '${HOST_KEY_LINE}' "$pub"`;

export class HostKeyError extends Error {
  override name = "HostKeyError";
}

/** The public host key ("ssh-ed25519 AAAA...") from a create step's stdout; throws when there is none. */
export function hostKeyFrom(stdout: string, step: string): string {
  const lines = stdout.split("\n").filter((l) => l.startsWith(HOST_KEY_LINE));
  const key = lines.at(-1)?.slice(HOST_KEY_LINE.length).trim();
  if (key === undefined || !isHostKeyLine(key)) {
    throw new HostKeyError(
      `${step} printed no ssh host key line ("${HOST_KEY_LINE}ssh-ed25519 AAAA..."): the VM's host key cannot be pinned`,
    );
  }
  return key;
}
