/**
 * Every keyboard shortcut of the lab, defined once, in the spirit of VS Code's keybinding
 * registry: one entry per command with a stable id, the key chords that run it and its label.
 * Everything else is derived from this table, so nothing has to agree by hand:
 * - the help overlay's rows (`HELP_SECTIONS`, shown by components/shortcuts-help.vue);
 * - every control's `aria-keyshortcuts` (`ariaKeys`, WAI-ARIA syntax: "Shift+ArrowRight J");
 * - the keys in every control's title (`titleWithKeys`: "Next vmexit (Shift+→ or J)");
 * - the key matching in every handler (`matches(id, event)`), which also holds the guards that
 *   all shortcuts share: none while typing in a field, none with Ctrl, Meta or Alt held.
 */

/**
 * Where a command's keys work: `window` anywhere in the window (outside a text field);
 * `timeline` while the timeline canvas has the focus. Key events on the canvas bubble on to the
 * window, so a timeline chord must not also be a window chord.
 */
export type Scope = 'window' | 'timeline';

/**
 * A focused element that keeps a chord for itself: Space presses a focused `button`, and the
 * arrows move a focused `separator` (the pane splitters). Tab lists stop their own arrow
 * events (components/session-tabs.vue), so they never reach a window handler.
 */
export type KeepsKey = 'button' | 'separator';

/**
 * One key press. `key` is a `KeyboardEvent.key` value. A letter is written in lower case and
 * matches either case (so Caps Lock changes nothing): whether Shift is held is told by `shift`.
 * `shift`: true = must be held, false = must not be, absent = either (for keys whose value
 * already says it, such as '+' or '?', and keys where Shift makes no difference: Space, Home,
 * End, Escape). `alias`: matched but not named anywhere (the same physical key as a named chord,
 * such as '=' for '+' on a US keyboard). `unlessFocusOn`: the chord is left to such an element.
 */
export interface Chord {
  readonly key: string;
  readonly shift?: boolean;
  readonly alias?: boolean;
  readonly unlessFocusOn?: KeepsKey;
}

interface Binding {
  /** What the command does, as a control would be titled ("Next vmexit"). */
  readonly label: string;
  readonly scope: Scope;
  readonly chords: readonly Chord[];
}

const letter = (key: string, shift = false): Chord => ({ key, shift });

/** The table. Ids are stable: handlers, controls and tests name commands by them. */
const BINDINGS = {
  'playback.toggle': { label: 'Play or pause', scope: 'window', chords: [{ key: ' ', unlessFocusOn: 'button' }] },
  'playback.slower': { label: 'Slower', scope: 'window', chords: [{ key: '[' }] },
  'playback.faster': { label: 'Faster', scope: 'window', chords: [{ key: ']' }] },
  'cursor.prevEvent': { label: 'One event back', scope: 'window', chords: [{ key: 'ArrowLeft', shift: false, unlessFocusOn: 'separator' }] },
  'cursor.nextEvent': { label: 'One event forward', scope: 'window', chords: [{ key: 'ArrowRight', shift: false, unlessFocusOn: 'separator' }] },
  'cursor.prevExit': { label: 'Previous vmexit', scope: 'window', chords: [{ key: 'ArrowLeft', shift: true, unlessFocusOn: 'separator' }, letter('k')] },
  'cursor.nextExit': { label: 'Next vmexit', scope: 'window', chords: [{ key: 'ArrowRight', shift: true, unlessFocusOn: 'separator' }, letter('j')] },
  'cursor.nextFault': { label: 'Next guest fault', scope: 'window', chords: [letter('f')] },
  'cursor.prevFault': { label: 'Previous guest fault', scope: 'window', chords: [letter('f', true)] },
  'playback.start': { label: 'Start', scope: 'window', chords: [{ key: 'Home' }] },
  'playback.end': { label: 'End', scope: 'window', chords: [{ key: 'End' }] },
  'playback.jump': { label: 'Jump to a time', scope: 'window', chords: [letter('g')] },
  'notes.bookmark': { label: 'Bookmark the current position', scope: 'window', chords: [letter('b')] },
  'view.toggleTheme': { label: 'Switch between the light and the dark theme', scope: 'window', chords: [letter('t')] },
  'help.show': { label: 'Keyboard shortcuts', scope: 'window', chords: [{ key: '?' }] },
  'search.next': { label: 'Find next', scope: 'window', chords: [letter('n')] },
  'search.prev': { label: 'Find previous', scope: 'window', chords: [letter('n', true)] },
  'timeline.zoomIn': { label: 'Zoom in', scope: 'timeline', chords: [{ key: '+' }, { key: '=', alias: true }, letter('w')] },
  'timeline.zoomOut': { label: 'Zoom out', scope: 'timeline', chords: [{ key: '-' }, letter('s')] },
  'timeline.panLeft': { label: 'Pan left', scope: 'timeline', chords: [letter('a')] },
  'timeline.panRight': { label: 'Pan right', scope: 'timeline', chords: [letter('d')] },
  'timeline.zoomToSelection': { label: 'Zoom to the selection', scope: 'timeline', chords: [letter('z')] },
  'timeline.zoomToEvent': { label: 'Zoom to the current event', scope: 'timeline', chords: [letter('e')] },
  'timeline.clearSelection': { label: 'Clear the selection', scope: 'timeline', chords: [{ key: 'Escape' }] },
  'timeline.reset': { label: 'Show the whole run', scope: 'timeline', chords: [{ key: '0' }] },
} as const satisfies Record<string, Binding>;

export type CommandId = keyof typeof BINDINGS;

/** A command with its derived strings. */
export interface Command extends Binding {
  readonly id: CommandId;
  /** `aria-keyshortcuts` value: "Shift+ArrowRight J". */
  readonly aria: string;
  /** The keys as people read them: "Shift+→ or J". */
  readonly keys: string;
}

/** How a key is shown to people (in titles and the help overlay). */
const SHOWN: Readonly<Record<string, string>> = { ' ': 'Space', ArrowLeft: '←', ArrowRight: '→', ArrowUp: '↑', ArrowDown: '↓' };
/** How WAI-ARIA names a key where that is not its `KeyboardEvent.key` value (spec of aria-keyshortcuts). */
const ARIA_NAME: Readonly<Record<string, string>> = { ' ': 'Space', '+': 'Plus' };

const isLetter = (key: string): boolean => /^[a-z]$/i.test(key);
const keyName = (key: string, names: Readonly<Record<string, string>>): string => names[key] ?? (key.length === 1 ? key.toUpperCase() : key);

/** A chord as people read it: "Shift+←", "J". */
export function chordLabel(chord: Chord): string {
  return `${chord.shift ? 'Shift+' : ''}${keyName(chord.key, SHOWN)}`;
}

/** A chord in WAI-ARIA keyshortcuts syntax: modifiers first, then one key ("Shift+ArrowLeft"). */
export function chordAria(chord: Chord): string {
  return `${chord.shift ? 'Shift+' : ''}${keyName(chord.key, ARIA_NAME)}`;
}

const named = (chords: readonly Chord[]): Chord[] => chords.filter((c) => !c.alias);

export const COMMANDS: Readonly<Record<CommandId, Command>> = Object.fromEntries(
  (Object.entries(BINDINGS) as [CommandId, Binding][]).map(([id, b]) => [
    id,
    { id, ...b, aria: named(b.chords).map(chordAria).join(' '), keys: named(b.chords).map(chordLabel).join(' or ') },
  ]),
) as Record<CommandId, Command>;

export const COMMAND_IDS = Object.keys(BINDINGS) as CommandId[];

/** The `aria-keyshortcuts` value of a control that runs these commands ("Home End"). */
export function ariaKeys(...ids: CommandId[]): string {
  return ids.map((id) => COMMANDS[id].aria).join(' ');
}

/** A control's title with its keys: `titleWithKeys('cursor.nextExit')` = "Next vmexit (Shift+→ or J)". */
export function titleWithKeys(id: CommandId, text: string = COMMANDS[id].label): string {
  return `${text} (${COMMANDS[id].keys})`;
}

/** What `matches` reads of a key event (a real `KeyboardEvent` is one). */
export interface KeyEventLike {
  readonly key: string;
  readonly shiftKey: boolean;
  readonly ctrlKey: boolean;
  readonly metaKey: boolean;
  readonly altKey: boolean;
  readonly target?: unknown;
}

interface FocusLike {
  tagName?: unknown;
  isContentEditable?: unknown;
  getAttribute?: unknown;
}

function focusOf(target: unknown): FocusLike | undefined {
  return typeof target === 'object' && target !== null ? (target as FocusLike) : undefined;
}

/** Keys typed into a text field, a select or an editable element are the user's, not shortcuts. */
export function isTypingTarget(target: unknown): boolean {
  const el = focusOf(target);
  const tag = typeof el?.tagName === 'string' ? el.tagName.toUpperCase() : '';
  return tag === 'INPUT' || tag === 'SELECT' || tag === 'TEXTAREA' || el?.isContentEditable === true;
}

function keeps(target: unknown, kind: KeepsKey): boolean {
  const el = focusOf(target);
  if (kind === 'button') return typeof el?.tagName === 'string' && el.tagName.toUpperCase() === 'BUTTON';
  return typeof el?.getAttribute === 'function' && (el.getAttribute as (name: string) => unknown).call(el, 'role') === 'separator';
}

function chordMatches(chord: Chord, event: KeyEventLike): boolean {
  const sameKey = isLetter(chord.key) ? event.key.toLowerCase() === chord.key : event.key === chord.key;
  if (!sameKey) return false;
  if (chord.shift !== undefined && chord.shift !== event.shiftKey) return false;
  return !(chord.unlessFocusOn && keeps(event.target, chord.unlessFocusOn));
}

/**
 * Whether this key event runs the command: one of its chords, no Ctrl/Meta/Alt (those combos
 * belong to the browser and the system), and not typed into a field.
 */
export function matches(id: CommandId, event: KeyEventLike): boolean {
  if (event.ctrlKey || event.metaKey || event.altKey || isTypingTarget(event.target)) return false;
  return BINDINGS[id].chords.some((chord) => chordMatches(chord, event));
}

/** The first of these commands that the event runs, if any (for handlers with several). */
export function matching<Id extends CommandId>(ids: readonly Id[], event: KeyEventLike): Id | undefined {
  return ids.find((id) => matches(id, event));
}

/** One row of the help overlay: some commands (shown as pairs: "← / →"), pointer gestures, what they do. */
export interface HelpRow {
  readonly commands: readonly CommandId[];
  /** Mouse gestures that do the same (after the keys): "Wheel". */
  readonly pointer?: string;
  readonly what: string;
}

export interface HelpSection {
  readonly scope: Scope;
  readonly title: string;
  readonly rows: readonly HelpRow[];
}

/** The help overlay: which commands share a row, and the row's text. The keys come from the table. */
export const HELP_SECTIONS: readonly HelpSection[] = [
  {
    scope: 'window',
    title: 'Anywhere outside a text field',
    rows: [
      { commands: ['playback.toggle'], what: 'Play or pause' },
      { commands: ['playback.slower', 'playback.faster'], what: 'Play slower or faster' },
      { commands: ['cursor.prevEvent', 'cursor.nextEvent'], what: 'Step one event back or forward' },
      { commands: ['cursor.prevExit', 'cursor.nextExit'], what: 'Previous or next vmexit' },
      { commands: ['cursor.nextFault', 'cursor.prevFault'], what: 'Next or previous guest fault' },
      { commands: ['playback.start', 'playback.end'], what: 'Go to the start or the end of the run' },
      { commands: ['playback.jump'], what: 'Jump to a time (type it, then Enter)' },
      { commands: ['search.next', 'search.prev'], what: 'Next or previous match of the event search (once it has something to look for)' },
      { commands: ['notes.bookmark'], what: 'Bookmark the current position' },
      { commands: ['view.toggleTheme'], what: 'Switch between the light and the dark theme' },
      { commands: ['help.show'], what: 'Show this list' },
    ],
  },
  {
    scope: 'timeline',
    title: 'On the timeline (the keys once it has the focus: click it or Tab to it)',
    rows: [
      { commands: ['timeline.zoomIn', 'timeline.zoomOut'], pointer: 'Wheel', what: 'Zoom the timeline (around the pointer with the wheel)' },
      { commands: ['timeline.panLeft', 'timeline.panRight'], pointer: 'Drag, Shift+wheel', what: 'Pan the timeline' },
      { commands: [], pointer: 'Shift+drag', what: 'Select a time range (the breakdown and the page-table diff follow it)' },
      { commands: ['timeline.zoomToSelection'], what: 'Zoom the timeline to the selection' },
      { commands: ['timeline.zoomToEvent'], what: 'Zoom the timeline to the current event' },
      { commands: ['timeline.clearSelection'], what: 'Clear the selection' },
      { commands: ['timeline.reset'], what: 'Show the whole run' },
      { commands: [], pointer: 'Click', what: 'Move the playback position there' },
    ],
  },
];

/**
 * The keys of several commands as people read them, paired chord by chord: for the previous
 * and next vmexit with " / ", ["Shift+← / Shift+→", "K / J"]. Commands with different numbers
 * of chords are not paired: each command's keys come in turn.
 */
export function pairedKeys(ids: readonly CommandId[], separator: string): string[] {
  const lists = ids.map((id) => named(BINDINGS[id].chords).map(chordLabel));
  const n = lists[0]?.length ?? 0;
  if (!lists.every((l) => l.length === n)) return [lists.map((l) => l.join(' or ')).join(separator)];
  return Array.from({ length: n }, (_, i) => lists.map((l) => l[i]).join(separator));
}

/** The keys of a help row, then its pointer gestures: "Shift+← / Shift+→, K / J". */
export function rowKeys(row: HelpRow): string {
  return [...pairedKeys(row.commands, ' / '), ...(row.pointer ? [row.pointer] : [])].join(', ');
}
