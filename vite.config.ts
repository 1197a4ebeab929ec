// Vite builds the renderer (renderer/) into dist/renderer for both front doors: Electron loads
// it from disk (hence base './') and the browser host serves it. The production output must run
// under the strict Content-Security-Policy in renderer/index.html: no inline scripts, no eval,
// no inline <style> elements (CSS goes to files; Vue's style bindings use the CSSOM, which CSP allows).
import { defineConfig, type Plugin } from 'vite';
import vue from '@vitejs/plugin-vue';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('./renderer', import.meta.url));
const outDir = fileURLToPath(new URL('./dist/renderer', import.meta.url));

/**
 * The dev server injects CSS as <style> elements and needs its HMR socket, so `vite` (serve)
 * relaxes style-src to allow them. The built app keeps the strict policy from index.html.
 */
function devCsp(): Plugin {
  return {
    name: 'mmulab-dev-csp',
    apply: 'serve',
    transformIndexHtml(html) {
      return html.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'");
    },
  };
}

export default defineConfig({
  root,
  base: './',
  plugins: [vue(), devCsp()],
  build: {
    outDir,
    emptyOutDir: true,
    target: 'es2022',
    // Keep every asset a file: a data: URL would need a wider CSP.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    sourcemap: true,
  },
  server: { host: '127.0.0.1', strictPort: false },
});
