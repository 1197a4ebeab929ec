/**
 * The browser host: the built renderer and the one API over HTTP and a WebSocket, for
 * machines without an Electron binary and for end-to-end tests.
 *
 * Who may drive it: only a page that was opened from the printed URL. That URL carries a
 * random per-start token; the first request with it gets an HttpOnly, SameSite=Strict cookie;
 * everything else needs the token or the cookie (403 otherwise). WebSocket upgrades also need
 * an Origin equal to our own, and every request a Host header naming the loopback address, so
 * neither another site in the same browser nor a DNS-rebinding page can reach the API.
 * The server listens on 127.0.0.1 unless told otherwise (`bind`, for `mmu-lab serve --host`
 * with --allow-remote): then any Host header is served, WebSocket and API requests must come from
 * the page's own origin (the Host they name), and the token is the only protection.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { BROWSER_API_PATH, MAX_MESSAGE_BYTES } from '../api/contract.ts';
import { EXPORTS_URL_PATH, HostService } from './hostService.ts';
import { toWireError } from './wireRequests.ts';
import { contentSecurityPolicy, contentType, resolveStaticFile } from './security.ts';
import type { WorkerLocation } from './vmWorkerSpawn.ts';

export const LOOPBACK = '127.0.0.1';

/** Whether an address to bind is this machine's loopback (reachable from this machine only). */
export function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}

/** A Host header as a browser sends it: a name or an address, and a port. */
const HOST_HEADER = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$/;

export interface BrowserHostOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** The address to listen on (default 127.0.0.1). Anything but loopback exposes the host to the network. */
  bind?: string;
  sessionsDir: string;
  /** The built renderer (default dist/renderer under the current directory). */
  staticDir?: string;
  version?: string;
  worker?: WorkerLocation;
  progressIntervalMs?: number;
}

export interface BrowserHost {
  url: string;
  /** The address the server is bound to (127.0.0.1 unless `bind` said otherwise). */
  address: string;
  port: number;
  token: string;
  service: HostService;
  close(): Promise<void>;
}

function sameSecret(a: string | undefined, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function exportContentType(name: string): string {
  if (name.endsWith('.pdf')) return 'application/pdf';
  if (name.endsWith('.html')) return 'text/html; charset=utf-8';
  if (name.endsWith('.csv')) return 'text/csv; charset=utf-8';
  if (name.endsWith('.jsonl')) return 'application/x-ndjson';
  if (name.endsWith('.json')) return 'application/json';
  return 'application/octet-stream';
}

function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0) out.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  return out;
}

export async function startBrowserHost(options: BrowserHostOptions): Promise<BrowserHost> {
  const staticDir = resolve(options.staticDir ?? join(process.cwd(), 'dist', 'renderer'));
  const token = randomBytes(32).toString('base64url');
  const service = new HostService({
    sessionsDir: options.sessionsDir,
    host: 'browser',
    version: options.version,
    worker: options.worker,
    progressIntervalMs: options.progressIntervalMs,
  });

  let port = 0;
  const bind = options.bind ?? LOOPBACK;
  const remote = !isLoopback(bind);
  /** The bind address as a URL or Host header names it (an IPv6 address in brackets). */
  const bindName = bind.includes(':') ? `[${bind}]` : bind;
  const cookieName = () => `mmulab_token_${port}`;
  const loopbackHosts = () => [...new Set([LOOPBACK, 'localhost', bindName])].map((h) => `${h}:${port}`);
  /** Whether a request's Host header is one we serve (loopback: ours only, against DNS rebinding). */
  const hostAllowed = (host: string | undefined) => (remote ? HOST_HEADER.test(host ?? '') : loopbackHosts().includes(host ?? ''));
  /** The origins a page of ours has when it was loaded through `host`. */
  const originAllowed = (origin: string | undefined, host: string | undefined) =>
    origin !== undefined && (remote ? hostAllowed(host) && origin === `http://${host}` : loopbackHosts().some((h) => origin === `http://${h}`));

  /** 'query' when the token is in the URL (sets the cookie), 'cookie', or undefined. */
  function authorize(req: IncomingMessage, url: URL): 'query' | 'cookie' | undefined {
    if (sameSecret(url.searchParams.get('token') ?? undefined, token)) return 'query';
    if (sameSecret(parseCookies(req.headers.cookie).get(cookieName()), token)) return 'cookie';
    return undefined;
  }

  function baseHeaders(req: IncomingMessage, res: ServerResponse): void {
    const sockets = remote && hostAllowed(req.headers.host) ? [`ws://${req.headers.host}`] : loopbackHosts().map((h) => `ws://${h}`);
    res.setHeader('Content-Security-Policy', contentSecurityPolicy(sockets));
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
  }

  function reply(res: ServerResponse, status: number, text: string): void {
    res.statusCode = status;
    res.setHeader('Content-Type', 'text/plain; charset=utf-8');
    res.setHeader('Cache-Control', 'no-store');
    res.end(text + '\n');
  }

  /** Static files and exports are only read: any method but GET and HEAD gets 405 (and says so). */
  function refusesMethod(req: IncomingMessage, res: ServerResponse): boolean {
    if (req.method === 'GET' || req.method === 'HEAD') return false;
    res.setHeader('Allow', 'GET, HEAD');
    reply(res, 405, 'Method not allowed');
    return true;
  }

  function serveStatic(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (refusesMethod(req, res)) return;
    const file = resolveStaticFile(staticDir, url.pathname);
    if (!file) {
      if (!existsSync(join(staticDir, 'index.html'))) {
        return reply(res, 503, `The renderer is not built (no ${join(staticDir, 'index.html')}). Run: npm run build`);
      }
      return reply(res, 404, 'Not found');
    }
    res.statusCode = 200;
    res.setHeader('Content-Type', contentType(file));
    res.setHeader('Cache-Control', file.endsWith('.html') ? 'no-store' : 'no-cache');
    if (req.method === 'HEAD') return void res.end();
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  /** A file `sessions.export` wrote, as a download (same token/cookie as everything else). */
  function serveExport(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (refusesMethod(req, res)) return;
    let name: string;
    try {
      name = decodeURIComponent(url.pathname.slice(EXPORTS_URL_PATH.length + 1));
    } catch {
      return reply(res, 404, 'Not found');
    }
    const file = service.exportPath(name);
    if (!file) return reply(res, 404, 'Not found');
    res.statusCode = 200;
    res.setHeader('Content-Type', exportContentType(name));
    res.setHeader('Content-Disposition', `attachment; filename="${name.replace(/[^A-Za-z0-9._ -]/g, '_')}"`);
    res.setHeader('Cache-Control', 'no-store');
    // An exported HTML report must not run as part of this origin, even if opened in a tab.
    res.setHeader('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox");
    if (req.method === 'HEAD') return void res.end();
    const stream = createReadStream(file);
    stream.on('error', () => res.destroy());
    stream.pipe(res);
  }

  async function serveApiPost(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    // A client that goes away mid-body (a closed tab, a killed script) leaves an upload that
    // cannot go on: release its slot now rather than when it goes stale.
    req.once('close', () => {
      if (!req.complete) service.requestAborted(Buffer.concat(chunks).subarray(0, 4096).toString('utf8'));
    });
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_MESSAGE_BYTES) {
        res.setHeader('Connection', 'close');
        res.statusCode = 413;
        res.setHeader('Content-Type', 'application/json');
        res.end(JSON.stringify({ id: -1, ok: false, error: { code: 'too-large', message: `message is over the limit of ${MAX_MESSAGE_BYTES} bytes` } }));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    }
    const response = await service.handleRequest(Buffer.concat(chunks));
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/json');
    res.setHeader('Cache-Control', 'no-store');
    res.end(JSON.stringify(response));
  }

  const server = createServer((req, res) => {
    try {
      baseHeaders(req, res);
      const url = new URL(req.url ?? '/', `http://${LOOPBACK}:${port}`);
      if (!hostAllowed(req.headers.host)) return reply(res, 403, 'Forbidden: unexpected Host header');
      const auth = authorize(req, url);
      if (!auth) return reply(res, 403, 'Forbidden: open the URL printed by the MMU Lab browser host (it carries the access token).');
      if (auth === 'query') {
        res.setHeader('Set-Cookie', `${cookieName()}=${token}; HttpOnly; SameSite=Strict; Path=/`);
      }
      if (url.pathname === BROWSER_API_PATH) {
        if (req.method !== 'POST') return reply(res, 405, 'Use a WebSocket (or POST a JSON request) at /api');
        const origin = req.headers.origin;
        if (origin !== undefined && !originAllowed(origin, req.headers.host)) return reply(res, 403, 'Forbidden: cross-origin request');
        if (!(req.headers['content-type'] ?? '').startsWith('application/json')) return reply(res, 415, 'Send application/json');
        serveApiPost(req, res).catch((error: unknown) => {
          if (!res.headersSent) reply(res, 500, toWireError(error).message);
        });
        return;
      }
      if (url.pathname.startsWith(EXPORTS_URL_PATH + '/')) return serveExport(req, res, url);
      serveStatic(req, res, url);
    } catch (error) {
      if (!res.headersSent) reply(res, 500, `Internal error: ${toWireError(error).message}`);
    }
  });
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;

  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * MAX_MESSAGE_BYTES });

  server.on('upgrade', (req, socket, head) => {
    const refuse = (status: number, text: string) => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
    };
    try {
      const url = new URL(req.url ?? '/', `http://${LOOPBACK}:${port}`);
      if (url.pathname !== BROWSER_API_PATH) return refuse(404, 'Not Found');
      if (!hostAllowed(req.headers.host)) return refuse(403, 'Forbidden');
      if (!originAllowed(req.headers.origin, req.headers.host)) return refuse(403, 'Forbidden');
      if (!authorize(req, url)) return refuse(403, 'Forbidden');
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    } catch {
      refuse(400, 'Bad Request');
    }
  });

  wss.on('connection', (ws: WebSocket) => {
    /** This connection, as the owner of what it starts (uploads): released when it closes. */
    const client = {};
    const unsubscribe = service.onEvent((message) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(message));
    });
    ws.on('message', (data, isBinary) => {
      const raw = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      void service.handleRequest(isBinary ? raw : raw.toString('utf8'), { client }).then((response) => {
        if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(response));
      });
    });
    ws.on('close', () => {
      unsubscribe();
      service.clientGone(client);
    });
    ws.on('error', () => ws.terminate());
  });

  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, bind, () => {
      server.off('error', reject);
      resolveListen();
    });
  });
  const bound = server.address() as AddressInfo;
  port = bound.port;
  // Bound to every interface: the URL names this machine as others reach it.
  const shownHost = bind === '0.0.0.0' || bind === '::' ? hostname() : bindName;
  const url = `http://${shownHost}:${port}/?token=${token}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    address: bound.address,
    port,
    token,
    service,
    close: () =>
      (closing ??= (async () => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        await service.close();
        await new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        });
      })()),
  };
}

/** The package version, for app.info. */
export function packageVersion(root = process.cwd()): string {
  try {
    return (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
