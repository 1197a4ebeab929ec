// Build the renderer when dist/renderer is missing or older than its sources, so
// `npx playwright test` on its own tests the current code (`npm test` builds first anyway).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = fileURLToPath(new URL('..', import.meta.url));

function newest(path: string): number {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let max = st.mtimeMs;
  for (const entry of readdirSync(path)) {
    if (entry.endsWith('.test.ts')) continue;
    max = Math.max(max, newest(join(path, entry)));
  }
  return max;
}

export default async function globalSetup(): Promise<void> {
  const index = join(root, 'dist', 'renderer', 'index.html');
  const sources = Math.max(newest(join(root, 'renderer')), newest(join(root, 'electron', 'api')), newest(join(root, 'vite.config.ts')));
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  console.log('e2e: building the renderer (dist/renderer is missing or stale)');
  await build({ configFile: join(root, 'vite.config.ts'), logLevel: 'warn' });
}
