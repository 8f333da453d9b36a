// The live dashboard's static files: its URL path → the package file it serves and its type.
// workload/verify/dashboard.ts serves them from node_modules; the verify bundle (infra/install)
// carries their text inside, so the one installed file needs no node_modules.
export const DASHBOARD_ASSETS: Record<string, { file: string; type: string }> = {
  "/uPlot.iife.min.js": { file: "uplot/dist/uPlot.iife.min.js", type: "text/javascript; charset=utf-8" },
  "/uPlot.min.css": { file: "uplot/dist/uPlot.min.css", type: "text/css; charset=utf-8" },
};

/** The name the verify bundle defines (esbuild `define`) as { file: text } for every asset. */
export const BUNDLED_ASSETS_GLOBAL = "C1M_BUNDLED_ASSETS";
