// The live dashboard's web server (I/O): the page, its chart library (uPlot, from node_modules or
// from inside the verify bundle), the current state as JSON (/state) and as a stream of server-sent
// events (/events). Bound to loopback by default, and unauthenticated: a non-loopback address gets a
// warning, every request's Host header is checked (DNS rebinding, see dashboardGuard.ts) and the
// event streams are capped. After the verdict it stays up `lingerSeconds` (so an open page gets
// the verdict), then closes and lets the process end.
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { createRequire } from "node:module";
import { exposureWarning, hostAllowed } from "./dashboardGuard.js";
import { DASHBOARD_HTML } from "./dashboardPage.js";
import type { DashboardState } from "./dashboardState.js";
import { DASHBOARD_ASSETS } from "../../shared/dashboardAssets.js";

/** Set by esbuild in the verify bundle (shared/dashboardAssets.ts BUNDLED_ASSETS_GLOBAL): the assets' text. */
declare const C1M_BUNDLED_ASSETS: Record<string, string> | undefined;

export interface DashboardOptions {
  /** Listen address (default 127.0.0.1). */
  host: string;
  /** 0 = any free port. */
  port: number;
  lingerSeconds: number;
  /** Where the exposure warning goes (default: a line on stderr). */
  warn?: (line: string) => void;
}

export interface Dashboard {
  url: string;
  update(state: DashboardState): void;
  /** Sends the final state, then closes after the linger. */
  finish(state: DashboardState): void;
  /** Closes now (idempotent). */
  close(): Promise<void>;
  /** Resolves once closed. */
  closed: Promise<void>;
}

/**
 * Open /events streams at most: each holds a socket and gets every update, so a page reloaded in a
 * loop or a stray client cannot pile them up. Beyond it: 503 with Retry-After.
 */
export const MAX_EVENT_STREAMS = 16;
const TEXT = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };

const require = createRequire(import.meta.url);

/** An asset's text: the bundle's own copy, else the file in node_modules. */
function assetText(file: string): string {
  const bundled = typeof C1M_BUNDLED_ASSETS === "undefined" ? undefined : C1M_BUNDLED_ASSETS[file];
  return bundled ?? readFileSync(require.resolve(file), "utf8");
}

export async function startDashboard(options: DashboardOptions, initial: DashboardState): Promise<Dashboard> {
  let state = initial;
  let body = JSON.stringify(state);
  const streams = new Set<ServerResponse>();
  const sockets = new Set<Socket>();
  let bound = options.host; // the address actually listened on, once listening

  const openStream = (res: ServerResponse) => {
    if (streams.size >= MAX_EVENT_STREAMS) {
      return void res.writeHead(503, { ...TEXT, "retry-after": "5" }).end("too many open dashboard pages; retry later\n");
    }
    res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
    res.write(`data: ${body}\n\n`);
    streams.add(res);
    // Fires when the client goes or the stream is ended (on close): either way the slot is free.
    res.on("close", () => streams.delete(res));
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (!hostAllowed(req.headers.host, bound)) {
      return void res.writeHead(421, TEXT).end("unexpected Host header: open the dashboard by IP address or localhost\n");
    }
    const path = new URL(req.url ?? "/", "http://dashboard").pathname;
    if (req.method !== "GET") return void res.writeHead(405).end();
    if (path === "/") {
      return void res
        .writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" })
        .end(DASHBOARD_HTML);
    }
    if (path === "/state") {
      return void res.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" }).end(body);
    }
    if (path === "/events") return openStream(res);
    const asset = DASHBOARD_ASSETS[path];
    if (asset) {
      try {
        const text = assetText(asset.file);
        return void res.writeHead(200, { "content-type": asset.type, "cache-control": "max-age=3600" }).end(text);
      } catch {
        return void res.writeHead(500).end(`${asset.file} not found (npm ci?)`);
      }
    }
    res.writeHead(404).end();
  };

  const server = createServer(handle);
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { address, port } = server.address() as AddressInfo;
  bound = address;
  const warning = exposureWarning(address);
  const warn = options.warn ?? ((line: string) => void process.stderr.write(`${line}\n`));
  if (warning) warn(warning);
  const host = address.includes(":") ? `[${address}]` : address;

  let closing: Promise<void> | null = null;
  let lingerTimer: NodeJS.Timeout | null = null;
  let markClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => (markClosed = resolve));
  const close = () => {
    if (lingerTimer) clearTimeout(lingerTimer);
    closing ??= new Promise<void>((resolve) => {
      for (const res of streams) res.end();
      server.close(() => resolve());
      // Keep-alive and event-stream sockets would hold the server (and the process) open.
      for (const s of sockets) s.destroy();
    }).then(markClosed);
    return closing;
  };
  const push = (next: DashboardState) => {
    state = next;
    body = JSON.stringify(state);
    for (const res of streams) res.write(`data: ${body}\n\n`);
  };

  return {
    url: `http://${host}:${port}/`,
    update: push,
    finish(final) {
      push(final);
      lingerTimer = setTimeout(() => void close(), options.lingerSeconds * 1000);
    },
    close,
    closed,
  };
}
