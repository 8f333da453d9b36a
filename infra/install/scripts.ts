// Installing a staged bundle into the stack's own directory on this machine, and removing it.
// The step's script names the staged file by its content hash and the installed one by the
// stack: the checkout's path is in neither, so only a code change replaces the step (and what
// its id triggers). Pure: each returns a bash script.
import { FAIL, SUDO_PRELUDE, ScriptInputError, q, script } from "../shell.js";

export interface InstallFileArgs {
  /** The staged file (infra/install/stage.ts). */
  from: string;
  /** Its sha256: the installed copy is checked against it. */
  sha256: string;
  /** The stack's own directory (paths.ts stackInstallDir) and the file's name there. */
  dir: string;
  file: string;
}

function checkArgs(a: InstallFileArgs): void {
  if (!/^[0-9a-f]{64}$/.test(a.sha256))
    throw new ScriptInputError(`install: sha256 ${JSON.stringify(a.sha256)} is not a sha256 hex digest`);
  if (!/^[A-Za-z0-9_.-]+$/.test(a.file))
    throw new ScriptInputError(`install: file ${JSON.stringify(a.file)} is not a plain file name`);
}

/** Copies the staged file in (0644, a directory of 0755: the test runs as whoever runs `up`), checked, then renamed into place. */
export function installFileCreateScript(a: InstallFileArgs): string {
  checkArgs(a);
  return script(`install ${a.file}`, [
    ...SUDO_PRELUDE,
    ...FAIL,
    `from=${q(a.from)}; dir=${q(a.dir)}; file=${q(a.file)}; want=${q(a.sha256)}`,
    '[ -f "$from" ] || fail "$from is missing: the program stages it on every run; run up again"',
    'as_root install -d -m 0755 -- "$dir"',
    'as_root install -m 0644 -- "$from" "$dir/.$file.new"',
    // Checked once it is root's: what runs is what the program built.
    'got=$(as_root sha256sum -- "$dir/.$file.new" | cut -d" " -f1)',
    'if [ "$got" != "$want" ]; then',
    '  as_root rm -f -- "$dir/.$file.new"',
    '  fail "$from is not the file the program staged (sha256 $got, not $want): nothing installed; run up again"',
    "fi",
    'as_root mv -f -- "$dir/.$file.new" "$dir/$file"',
    'echo "c1m-lab: installed $dir/$file (sha256 ${want:0:12})"',
  ]);
}

/** Removes the installed file, then the stack's directory and its parent when empty; idempotent. */
export function installFileDeleteScript(a: Pick<InstallFileArgs, "dir" | "file">): string {
  return script(`remove ${a.file}`, [
    ...SUDO_PRELUDE,
    `dir=${q(a.dir)}; file=${q(a.file)}`,
    'as_root rm -f -- "$dir/$file" "$dir/.$file.new"',
    'as_root rmdir -- "$dir" 2>/dev/null || true',
    'as_root rmdir -- "$(dirname -- "$dir")" 2>/dev/null || true',
  ]);
}

/** Installing `staged` into `dir` under its own file name. */
export function installOf(staged: { path: string; sha256: string }, dir: string): InstallFileArgs {
  return { from: staged.path, sha256: staged.sha256, dir, file: staged.path.slice(staged.path.lastIndexOf("/") + 1) };
}

/** Where installOf's file ends up. */
export const installedPath = (a: Pick<InstallFileArgs, "dir" | "file">): string => `${a.dir}/${a.file}`;
