/**
 * Security policy shared by both front doors: the Content-Security-Policy (the same for the
 * Electron window and the browser host) and the safe resolution of static files.
 */
import { realpathSync, statSync } from 'node:fs';
import { extname, isAbsolute, relative, resolve } from 'node:path';

/**
 * The renderer's CSP: only our own scripts (no inline script, no eval), our own styles
 * (Vue's style bindings use the CSSOM, which CSP allows), no plugins, no framing,
 * no base-uri or form tricks. `connectSrc` adds the browser host's WebSocket origin.
 */
export function contentSecurityPolicy(connectSrc: string[] = [], options: { devServer?: boolean } = {}): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    // Only Vite's dev server injects <style> elements (hot reload); built code never does.
    options.devServer ? "style-src 'self' 'unsafe-inline'" : "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    `connect-src 'self'${connectSrc.length ? ' ' + connectSrc.join(' ') : ''}`,
    "worker-src 'self' blob:",
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
    "object-src 'none'",
  ].join('; ');
}

export const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.txt': 'text/plain; charset=utf-8',
};

export function contentType(file: string): string {
  return CONTENT_TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream';
}

/**
 * Resolve a URL path to a file inside `root`, or undefined. Decodes once, refuses NUL bytes,
 * backslashes and dot segments, and checks the real path (after symlinks) is still inside root.
 */
export function resolveStaticFile(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').filter((s) => s.length > 0);
  if (segments.some((s) => s === '.' || s === '..')) return undefined;
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch {
    return undefined;
  }
  const candidate = resolve(realRoot, ...(segments.length ? segments : ['index.html']));
  let real: string;
  try {
    real = realpathSync(candidate);
    if (!statSync(real).isFile()) return undefined;
  } catch {
    return undefined;
  }
  const rel = relative(realRoot, real);
  if (!rel || rel.startsWith('..') || isAbsolute(rel)) return undefined;
  return real;
}
