/**
 * Who may call the API over IPC (STYLE habit 3, as VS Code's `validateEvent`): the sender
 * frame must be the main frame of one of our windows and its URL must be our own origin.
 * Pure and Electron-free (structural types), so the rejection path is tested directly.
 */

export interface FrameLike {
  url: string;
  /** The frame's parent; the main frame has none. */
  parent: unknown;
}
export interface SenderEventLike {
  senderFrame: FrameLike | null;
  sender: { id: number; mainFrame: unknown };
}

/** Our renderer's origin under the custom protocol. */
export const APP_SCHEME = 'app';
export const APP_HOST = 'mmulab';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;

export interface SenderPolicy {
  /** webContents ids of windows we created. */
  knownWebContents: ReadonlySet<number>;
  /** Origins we load the renderer from: app://mmulab, plus the dev server in development. */
  allowedOrigins: ReadonlySet<string>;
}

/** Why a sender is refused, or undefined when it is trusted. */
export function senderProblem(event: SenderEventLike, policy: SenderPolicy): string | undefined {
  const frame = event.senderFrame;
  if (!frame) return 'the sending frame is gone';
  if (!policy.knownWebContents.has(event.sender.id)) return 'the sender is not an MMU Lab window';
  if (frame !== event.sender.mainFrame || frame.parent) return 'only the main frame may call the API';
  let origin: string;
  try {
    const url = new URL(frame.url);
    origin = url.protocol === `${APP_SCHEME}:` ? `${APP_SCHEME}://${url.host}` : url.origin;
  } catch {
    return 'the sender has no valid URL';
  }
  if (!policy.allowedOrigins.has(origin)) return `origin ${origin} may not call the API`;
  return undefined;
}
