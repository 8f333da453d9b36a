// Where the lab lives on this machine: the checkout, the node binary, runtime state, reports.
export interface LabPaths {
  /** Project root (holds dist/ and workload/Dockerfile). */
  root: string;
  /** Node binary that runs the server and the connection test. */
  node: string;
  /** Runtime state of the lab on this machine. */
  stateDir: string;
  reportsDir: string;
}
