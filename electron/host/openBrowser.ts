/** Open a URL in the user's browser (xdg-open, open, start); says so on stderr when it cannot. */
import { spawn } from 'node:child_process';

export function openBrowser(url: string): void {
  const platform = process.platform;
  if (platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) {
    process.stderr.write('No display found; open the URL above in a browser.\n');
    return;
  }
  const [command, args] =
    platform === 'darwin' ? ['open', [url]] : platform === 'win32' ? ['cmd', ['/c', 'start', '""', url.replace(/&/g, '^&')]] : ['xdg-open', [url]];
  try {
    const child = spawn(command, args as string[], { stdio: 'ignore', detached: true });
    child.on('error', () => process.stderr.write(`Could not start ${command}; open the URL above in a browser.\n`));
    child.unref();
  } catch {
    process.stderr.write('Could not open a browser; open the URL above in a browser.\n');
  }
}
