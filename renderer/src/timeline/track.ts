/**
 * Timeline tracks as a small plugin interface (after Perfetto's `Track`): the timeline view
 * owns the canvas, the time scale and the interaction; each track loads data for the visible
 * window at the current resolution (`onUpdate`) and draws its own lane synchronously
 * (`render`). Tracks are registered by URI, `mmulab.track.<kind>/<vm>/<vcpu>`.
 */
export interface TimeScale {
  /** Visible window, in simulated ns. */
  readonly t0: number;
  readonly t1: number;
  /** Pixel range (CSS px) the window maps onto. */
  readonly x0: number;
  readonly width: number;
}

export function timeToX(scale: TimeScale, t: number): number {
  return scale.x0 + ((t - scale.t0) / (scale.t1 - scale.t0)) * scale.width;
}

export function xToTime(scale: TimeScale, x: number): number {
  return scale.t0 + ((x - scale.x0) / scale.width) * (scale.t1 - scale.t0);
}

/** Colours read from the page's CSS variables, so tracks follow the light/dark theme. */
export interface TrackTheme {
  text: string;
  muted: string;
  grid: string;
  laneBg: string;
  guest: string;
  cursor: string;
  /** Fill of the selected range, and its outline. */
  selection: string;
  accent: string;
  /** Note marks on the ruler (bookmarks use `accent`). */
  note: string;
}

/** The theme as the page's CSS variables set it on `el` (with light-theme fallbacks). */
export function readTrackTheme(el: Element): TrackTheme {
  const css = getComputedStyle(el);
  const v = (name: string, fallback: string) => css.getPropertyValue(name).trim() || fallback;
  return {
    text: v('--text', '#222'),
    muted: v('--muted', '#666'),
    grid: v('--grid', '#ddd'),
    laneBg: v('--lane-bg', '#f6f7f9'),
    guest: v('--guest', '#b8d8be'),
    cursor: v('--cursor', '#e03131'),
    selection: v('--selection-fill', 'rgba(28, 126, 214, 0.15)'),
    accent: v('--accent', '#1c7ed6'),
    note: v('--note', '#e8590c'),
  };
}

export interface TrackArea {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface TrackUpdate {
  /** Visible window in simulated ns. */
  t0: number;
  t1: number;
  /** Simulated ns per pixel. */
  resolution: number;
}

export interface TimelineTrack {
  readonly uri: string;
  readonly title: string;
  readonly height: number;
  onUpdate?(update: TrackUpdate): Promise<void>;
  render(ctx: CanvasRenderingContext2D, area: TrackArea, scale: TimeScale, theme: TrackTheme): void;
  /** What is under the pointer at `x` (for the tooltip and click-to-seek). */
  hitTest?(x: number, scale: TimeScale): TrackHit | undefined;
  onDestroy?(): void;
}

export interface TrackHit {
  t: number;
  label: string;
}

export function trackUri(kind: string, vm: number, vcpu: number): string {
  return `mmulab.track.${kind}/${vm}/${vcpu}`;
}
