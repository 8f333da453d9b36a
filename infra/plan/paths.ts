// Where the lab lives on this machine: the node binary, runtime state, the stack's own directory
// (what the lab installs), the staged bundles, reports. Never the checkout: a path in a step's
// script or trigger that named it would replace the step whenever `up` ran from another checkout.

/** A file the program staged, named by its content: what a step installs. */
export interface StagedFile {
  path: string;
  sha256: string;
}

/** The client image's build context: its Dockerfile and the client bundle, nothing else. */
export interface StagedImageContext {
  context: string;
  dockerfile: string;
  sha256: string;
}

/** What infra/install/stage.ts staged: server and connection test bundles, the client image's context. */
export interface StagedWorkload {
  server: StagedFile;
  verify: StagedFile;
  clientImage: StagedImageContext;
}

export interface LabPaths {
  /** Node binary that runs the server and the connection test (pinned: see pinned.ts). */
  node: string;
  /** Runtime state of the lab on this machine (tmpfs: gone at a reboot, as the namespace is). */
  stateDir: string;
  /** The stack's own directory: the installed bundles, a qemu VM's disk, the multipass record. */
  installDir: string;
  /** The bundles the program built, by content (infra/install/stage.ts). */
  staged: StagedWorkload;
  /** Where verify writes reports; relative: the directory the engine runs the steps in (the project's). */
  reportsDir: string;
}

/** The parent of every stack's own directory on this machine. */
export const STACKS_DIR = "/var/lib/c1m-lab";

export function stackInstallDir(stack: string): string {
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]*$/.test(stack)) {
    throw new Error(`stack name ${JSON.stringify(stack)} cannot name a directory (letters, digits, '.', '_', '-')`);
  }
  return `${STACKS_DIR}/${stack}`;
}
