// electron-builder configuration for `npm run package` (scripts/package.mjs passes it in).
// The app is the esbuild bundles and the built renderer: no node_modules are shipped (every
// dependency is bundled), the VM worker is unpacked beside the asar so worker_threads can
// start it, and the fuses are set after packing (scripts/afterPack.cjs).
// Name and version come from package.json (`productName`, `version`).
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS config: electron-builder loads it with require() */
const { readFileSync } = require('node:fs');
const { join } = require('node:path');

/**
 * The entries of build/linux/mmu-lab.desktop that electron-builder does not compute itself
 * (it writes Name, Exec, Icon, Type, Terminal, StartupWMClass, Comment, MimeType and Categories
 * from this configuration), so the packaged entry says what the checked one says.
 */
function desktopExtras() {
  const computed = new Set(['Name', 'Exec', 'Icon', 'Type', 'Terminal', 'StartupWMClass', 'Comment', 'MimeType', 'Categories', 'Version']);
  const entries = {};
  for (const line of readFileSync(join(__dirname, '..', 'build', 'linux', 'mmu-lab.desktop'), 'utf8').split('\n')) {
    const m = /^([A-Za-z0-9-]+)=(.*)$/.exec(line);
    if (m && !computed.has(m[1])) entries[m[1]] = m[2];
  }
  return entries;
}

/** @type {import('electron-builder').Configuration} */
module.exports = {
  appId: 'org.mmulab.desktop',
  productName: 'MMU Lab',
  executableName: 'mmu-lab',
  copyright: 'MMU Lab contributors',
  directories: { output: 'artifacts/package', buildResources: 'build' },
  files: ['package.json', 'dist/electron/**/*', 'dist/renderer/**/*', '!**/*.map', '!node_modules/**/*'],
  extraMetadata: { main: 'dist/electron/main.cjs' },
  asar: true,
  asarUnpack: ['dist/electron/vmWorker.cjs', 'dist/electron/importReader.cjs'],
  // Help → Documentation opens these (they are not inside the asar, so the OS can show them).
  // The bundled labs are read by the host (electron/host/labService.ts) from resources/labs.
  extraResources: [
    { from: 'docs', to: 'docs', filter: ['**/*.md', 'images/**'] },
    { from: 'labs', to: 'labs' },
  ],
  npmRebuild: false,
  nodeGypRebuild: false,
  icon: 'build/icon.png',
  fileAssociations: [
    {
      ext: 'mmulab',
      name: 'MMU Lab session',
      description: 'A recorded MMU Lab session',
      mimeType: 'application/x-mmulab-session',
      role: 'Editor',
    },
  ],
  linux: {
    target: ['AppImage', 'deb'],
    category: 'Development',
    icon: 'build/icon.png',
    // The entry's MimeType comes from fileAssociations (listing it here too would name it twice).
    desktop: desktopExtras(),
    synopsis: 'Watch how a hypervisor virtualizes memory',
    // The deb's Maintainer field (electron-builder otherwise wants an author e-mail in package.json).
    maintainer: 'MMU Lab contributors',
  },
  deb: { priority: 'optional' },
  mac: { target: ['dmg'], category: 'public.app-category.developer-tools', icon: 'build/icon.png' },
  dmg: { title: '${productName} ${version}' },
  win: { target: ['nsis'], icon: 'build/icon.png' },
  nsis: { oneClick: false, perMachine: false, allowToChangeInstallationDirectory: true },
  afterPack: './scripts/afterPack.cjs',
};
