/**
 * Every keyboard shortcut of the lab, listed once: the help overlay shows this table, and
 * the controls name the same keys in their `aria-keyshortcuts` and titles.
 */
export interface Shortcut {
  keys: string;
  what: string;
}

export const SHORTCUTS: readonly Shortcut[] = [
  { keys: 'Space', what: 'Play or pause' },
  { keys: '[ / ]', what: 'Play slower or faster' },
  { keys: '← / →', what: 'Step one event back or forward' },
  { keys: 'Shift+← / Shift+→, K / J', what: 'Previous or next vmexit' },
  { keys: 'F / Shift+F', what: 'Next or previous guest fault' },
  { keys: 'Home / End', what: 'Go to the start or the end of the run' },
  { keys: 'G', what: 'Jump to a time (type it, then Enter)' },
  { keys: 'Wheel, + / −, W / S', what: 'Zoom the timeline (around the pointer with the wheel)' },
  { keys: 'Drag, A / D, Shift+wheel', what: 'Pan the timeline' },
  { keys: 'Shift+drag', what: 'Select a time range (the breakdown and the page-table diff follow it)' },
  { keys: 'Z', what: 'Zoom the timeline to the selection' },
  { keys: 'E', what: 'Zoom the timeline to the current event (on the timeline)' },
  { keys: 'Escape', what: 'Clear the selection (on the timeline)' },
  { keys: '0', what: 'Show the whole run' },
  { keys: 'Click on the timeline', what: 'Move the playback position there' },
  { keys: 'B', what: 'Bookmark the current position' },
  { keys: 'T', what: 'Switch between the light and the dark theme' },
  { keys: '?', what: 'Show this list' },
];
