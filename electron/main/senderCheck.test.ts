// The IPC rejection path (STYLE habit 3): only the main frame of a known window, loaded from
// our own origin, may call the API.
import { describe, expect, it } from 'vitest';
import { APP_ORIGIN, senderProblem, type SenderEventLike } from './senderCheck.ts';

const policy = { knownWebContents: new Set([1]), allowedOrigins: new Set([APP_ORIGIN]) };

function event(url: string, opts: { id?: number; subframe?: boolean; noFrame?: boolean } = {}): SenderEventLike {
  const mainFrame = { url, parent: null };
  const frame = opts.subframe ? { url, parent: mainFrame } : mainFrame;
  return { senderFrame: opts.noFrame ? null : frame, sender: { id: opts.id ?? 1, mainFrame } };
}

describe('IPC sender check', () => {
  it('accepts our window’s main frame on app://mmulab', () => {
    expect(senderProblem(event('app://mmulab/index.html'), policy)).toBeUndefined();
  });
  it.each([
    ['another origin', event('https://evil.example/'), /origin https:\/\/evil.example/],
    ['a file: URL', event('file:///etc/passwd'), /origin/],
    ['another app host', event('app://other/index.html'), /origin app:\/\/other/],
    ['a subframe', event('app://mmulab/index.html', { subframe: true }), /main frame/],
    ['an unknown window', event('app://mmulab/index.html', { id: 2 }), /not an MMU Lab window/],
    ['a destroyed frame', event('app://mmulab/index.html', { noFrame: true }), /gone/],
    ['a junk URL', event('not a url'), /valid URL/],
  ])('refuses %s', (_name, e, why) => {
    expect(senderProblem(e, policy)).toMatch(why);
  });
});
