// Building blocks for the scripts Command resources run. Every value interpolated into a
// script goes through `q`, even when the schema already constrained its shape.

/** Quotes one word for POSIX sh: 'it'\''s'. */
export function q(value: string | number): string {
  const s = String(value);
  return /^[A-Za-z0-9_./:=@%+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** A command line from words, each quoted. */
export function cmd(...words: (string | number)[]): string {
  return words.map(q).join(" ");
}

/** A bash script with strict mode and a name in its error messages. */
export function script(name: string, body: string[]): string {
  return [
    "#!/usr/bin/env bash",
    "set -euo pipefail",
    // The name sits in a single-quoted trap, inside double quotes: quote it for both.
    `trap 'echo "c1m-lab: ${name.replace(/["\\$`]/g, "\\$&").replace(/'/g, `'\\''`)} failed at line $LINENO" >&2' ERR`,
    ...body,
    "",
  ].join("\n");
}

/** Runs privileged commands directly as root, else through `sudo -n` with a clear failure. */
export const SUDO_PRELUDE = [
  'if [ "$(id -u)" -eq 0 ]; then as_root() { "$@"; }',
  'elif sudo -n true 2>/dev/null; then as_root() { sudo -n "$@"; }',
  'else echo "c1m-lab: this step needs root: run as root or allow passwordless sudo (sudo -n failed)" >&2; exit 1; fi',
];

/** `fail` prints one clear line and exits. */
export const FAIL = ['fail() { echo "c1m-lab: $*" >&2; exit 1; }'];

/** `printf '%s\n' line...` writing `text` (ending in a newline) to the file named by the shell expression `dest`. */
export function writeText(text: string, dest: string): string {
  const lines = text.endsWith("\n") ? text.slice(0, -1).split("\n") : text.split("\n");
  return `printf '%s\\n' ${lines.map(q).join(" ")} > ${dest}`;
}

/** A script builder was handed a value it will not put in a script; the message names it and what is valid. */
export class ScriptInputError extends Error {
  override name = "ScriptInputError";
}

/**
 * The environment variable a host's create reads its instance token from (the Pulumi program
 * sets it: see infra/instance.ts), and the command that prints it, for the create to store.
 */
export const INSTANCE_ENV = "C1M_HOST_INSTANCE";
export const PRINT_INSTANCE_TOKEN = `printf '%s\\n' "\${${INSTANCE_ENV}:-unmanaged}"`;
