// electron-builder afterPack hook: set Electron's fuses on the packed binary before it is
// signed and put into an installer (Electron's security checklist, "Flip the fuses"):
// no ELECTRON_RUN_AS_NODE, no NODE_OPTIONS, no --inspect arguments, ASAR integrity checked,
// the app loaded only from its ASAR, cookies encrypted, file:// without extra privileges
// (the app uses its own app:// protocol). Every fuse is set explicitly, so an Electron
// upgrade that adds one fails here until it is decided.
'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- a CommonJS hook: electron-builder loads it with require() */
const { join } = require('node:path');
const { flipFuses, FuseV1Options, FuseVersion } = require('@electron/fuses');

const FUSES = {
  version: FuseVersion.V1,
  strictlyRequireAllFuses: true,
  [FuseV1Options.RunAsNode]: false,
  [FuseV1Options.EnableCookieEncryption]: true,
  [FuseV1Options.EnableNodeOptionsEnvironmentVariable]: false,
  [FuseV1Options.EnableNodeCliInspectArguments]: false,
  [FuseV1Options.EnableEmbeddedAsarIntegrityValidation]: true,
  [FuseV1Options.OnlyLoadAppFromAsar]: true,
  [FuseV1Options.LoadBrowserProcessSpecificV8Snapshot]: false,
  [FuseV1Options.GrantFileProtocolExtraPrivileges]: false,
};

/** The file holding the fuse wire: the executable (Linux, Windows) or the .app (macOS). */
function electronBinary(context) {
  const { appOutDir, electronPlatformName, packager } = context;
  const product = packager.appInfo.productFilename;
  if (electronPlatformName === 'darwin' || electronPlatformName === 'mas') return join(appOutDir, `${product}.app`);
  if (electronPlatformName === 'win32') return join(appOutDir, `${product}.exe`);
  return join(appOutDir, packager.executableName);
}

async function afterPack(context) {
  const binary = electronBinary(context);
  // arm64 macOS binaries must be re-signed ad hoc after their bytes change.
  const resetAdHocDarwinSignature = context.electronPlatformName === 'darwin' && context.arch === 3; // Arch.arm64
  await flipFuses(binary, { ...FUSES, resetAdHocDarwinSignature });
  console.log(`  • fuses set on ${binary}`);
}

module.exports = afterPack;
module.exports.default = afterPack;
module.exports.FUSES = FUSES;
module.exports.electronBinary = electronBinary;
