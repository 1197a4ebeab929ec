// electron-builder configuration for `npm run package` (scripts/package.mjs passes it in).
// The app is the esbuild bundles and the built renderer: no node_modules are shipped (every
// dependency is bundled), the VM worker is unpacked beside the asar so worker_threads can
// start it, and the fuses are set after packing (scripts/afterPack.cjs).
// Name and version come from package.json (`productName`, `version`).
'use strict';

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
    mimeTypes: ['application/x-mmulab-session'],
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
