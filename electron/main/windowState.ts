/**
 * The window's remembered size and place, checked before use: the file may be damaged or
 * hand-edited, and the display it was saved on may be gone (a laptop undocked), in which case
 * the window would open out of sight. Electron-free, so it is tested directly.
 */

export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface WindowState {
  x?: number;
  y?: number;
  width: number;
  height: number;
  maximized?: boolean;
}

export const DEFAULT_WINDOW: WindowState = { width: 1280, height: 800 };
export const MIN_WINDOW = { width: 640, height: 480 };
/** How much of the title bar must be on a display for the saved place to be used. */
const VISIBLE_PX = 64;

function finite(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n);
}

/**
 * The state to open with, from what was saved (any JSON value) and the work areas of the
 * displays now attached: the default size when the saved one is unusable; the saved place only
 * when enough of the window's top edge lands on a display; never larger than the largest display.
 */
export function placeWindow(saved: unknown, workAreas: Rect[]): WindowState {
  const s = (saved && typeof saved === 'object' ? saved : {}) as Record<string, unknown>;
  const largest = workAreas.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a), workAreas[0] ?? { x: 0, y: 0, width: Infinity, height: Infinity });
  let width = finite(s.width) && s.width >= MIN_WINDOW.width ? Math.round(s.width) : DEFAULT_WINDOW.width;
  let height = finite(s.height) && s.height >= MIN_WINDOW.height ? Math.round(s.height) : DEFAULT_WINDOW.height;
  width = Math.max(MIN_WINDOW.width, Math.min(width, largest.width));
  height = Math.max(MIN_WINDOW.height, Math.min(height, largest.height));
  const state: WindowState = { width, height, ...(s.maximized === true ? { maximized: true } : {}) };
  if (finite(s.x) && finite(s.y)) {
    const x = Math.round(s.x);
    const y = Math.round(s.y);
    // The top edge (where the title bar is) must overlap a display by VISIBLE_PX horizontally.
    const onScreen = workAreas.some((a) => y >= a.y && y < a.y + a.height - VISIBLE_PX / 2 && Math.min(x + width, a.x + a.width) - Math.max(x, a.x) >= VISIBLE_PX);
    if (onScreen) Object.assign(state, { x, y });
  }
  return state;
}
