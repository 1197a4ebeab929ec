// `npm run package [-- --linux|--mac|--win] [--dir | --targets=AppImage,deb] [--electron-dist DIR] [--no-build] [--output=DIR]`: build, then
// package the desktop app with electron-builder (scripts/electron-builder.config.cjs) into
// artifacts/package/. Linux makes an AppImage and a deb; macOS a dmg; Windows an nsis installer.
//
// Packaging never downloads Electron: it uses the distribution in --electron-dist, else
// $ELECTRON_OVERRIDE_DIST_PATH, else the electron npm package's own binary when it has one,
// and otherwise stops with one message saying what is missing.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { build as buildApp, root } from './build.mjs';

const require = createRequire(import.meta.url);
const PLATFORMS = { '--linux': 'linux', '--mac': 'darwin', '--win': 'win32' };

function fail(message) {
  process.stderr.write(`npm run package: ${message}\n`);
  process.exit(1);
}

function parseArgs(argv) {
  const args = { platform: process.platform, dir: false, electronDist: undefined, build: true, output: undefined, targets: undefined };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg in PLATFORMS) args.platform = PLATFORMS[arg];
    else if (arg === '--dir') args.dir = true;
    else if (arg === '--no-build') args.build = false;
    else if (arg.startsWith('--targets=')) args.targets = arg.slice('--targets='.length).split(',').filter(Boolean);
    else if (arg.startsWith('--output=')) args.output = resolve(arg.slice('--output='.length));
    else if (arg === '--electron-dist') {
      args.electronDist = argv[++i];
      if (!args.electronDist) fail('--electron-dist needs a folder');
    } else if (arg.startsWith('--electron-dist=')) args.electronDist = arg.slice('--electron-dist='.length);
    else fail(`unknown option "${arg}" (options: --linux, --mac, --win, --dir, --targets=A,B, --electron-dist DIR, --no-build, --output=DIR)`);
  }
  return args;
}

/** The executable an unpacked Electron distribution holds for a platform. */
function executableIn(platform) {
  return platform === 'darwin' ? 'Electron.app' : platform === 'win32' ? 'electron.exe' : 'electron';
}

function installedElectronVersion() {
  try {
    return JSON.parse(readFileSync(join(root, 'node_modules', 'electron', 'package.json'), 'utf8')).version;
  } catch {
    return undefined;
  }
}

/** The electron npm package's own unpacked binary, when its download ran. */
function npmElectronDist() {
  try {
    const binary = require('electron');
    const dist = join(root, 'node_modules', 'electron', 'dist');
    return typeof binary === 'string' && existsSync(binary) && existsSync(dist) ? dist : undefined;
  } catch {
    return undefined;
  }
}

/** Where the Electron distribution is and which version it is, or a sentence saying what is missing. */
export function findElectronDist(args, env = process.env) {
  const version = installedElectronVersion() ?? 'the version in package.json';
  const wanted = `an unpacked Electron ${version} for ${args.platform}-${process.arch}`;
  const given = args.electronDist ?? env.ELECTRON_OVERRIDE_DIST_PATH;
  const source = args.electronDist ? '--electron-dist' : 'ELECTRON_OVERRIDE_DIST_PATH';
  if (!given) {
    const fromNpm = npmElectronDist();
    if (fromNpm) return { dist: fromNpm, version };
    return {
      problem:
        `no Electron distribution to package with. Set ELECTRON_OVERRIDE_DIST_PATH (or pass --electron-dist DIR) to ${wanted}, ` +
        `the folder holding ${executableIn(args.platform)}; the electron npm package here has no binary (its download is off) and packaging does not download one.`,
    };
  }
  const dist = resolve(given);
  if (!existsSync(dist) || !statSync(dist).isDirectory()) return { problem: `${source} is ${dist}, which is not a folder; it must be ${wanted}.` };
  if (!existsSync(join(dist, executableIn(args.platform)))) {
    return { problem: `${source} is ${dist}, which has no ${executableIn(args.platform)}; it must be ${wanted}.` };
  }
  let distVersion = version;
  try {
    distVersion = readFileSync(join(dist, 'version'), 'utf8').trim().replace(/^v/, '') || version;
  } catch {
    // older distributions have no version file; assume the installed package's version
  }
  return { dist, version: distVersion };
}

/**
 * What the chosen installers need from package.json that it lacks, as a sentence, before any
 * build starts: electron-builder refuses a deb without a project URL (`homepage`, or a GitHub
 * `repository`) only after building everything.
 */
export function metadataProblem(args, pkg) {
  if (args.dir || args.platform !== 'linux' || (args.targets && !args.targets.includes('deb'))) return undefined;
  const repo = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  if (!pkg.homepage && !(repo && /github/.test(repo))) {
    return 'the deb package needs the project\'s URL: add "homepage" (or a GitHub "repository") to package.json, or make only the AppImage with --targets=AppImage.';
  }
  return undefined;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const found = findElectronDist(args);
  if (found.problem) fail(found.problem);
  const missing = metadataProblem(args, JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')));
  if (missing) fail(missing);
  console.log(`Packaging with the Electron ${found.version} distribution in ${found.dist}.`);
  if (args.build) await buildApp();
  const { build, Platform } = require('electron-builder');
  const platform = { linux: Platform.LINUX, darwin: Platform.MAC, win32: Platform.WINDOWS }[args.platform];
  if (!platform) fail(`cannot package for ${args.platform}`);
  const config = require('./electron-builder.config.cjs');
  const targets = platform.createTarget(args.dir ? ['dir'] : args.targets);
  const outputs = await build({
    projectDir: root,
    targets,
    publish: 'never',
    config: {
      ...config,
      electronDist: found.dist,
      electronVersion: found.version,
      ...(args.output ? { directories: { ...config.directories, output: args.output } } : {}),
    },
  });
  console.log(`Packaged:\n${outputs.map((o) => `  ${o}`).join('\n')}`);
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main().catch((error) => {
    const first = error instanceof Error ? error.message.split('\n')[0] : String(error);
    // app-builder downloads its Linux tools (appimagetool, fpm) on first use.
    const hint = /ERR_ELECTRON_BUILDER_CANNOT_EXECUTE|download/i.test(String(error)) ? ' (electron-builder fetches its installer tools on first use: this needs the network once; --dir needs none)' : '';
    fail(first + hint);
  });
}
