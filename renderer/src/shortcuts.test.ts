import { describe, expect, it } from 'vitest';
import { ariaKeys, COMMAND_IDS, COMMANDS, HELP_SECTIONS, matches, rowKeys, titleWithKeys, type CommandId, type KeyEventLike, type Scope } from './shortcuts';

/** A hand-written key event: no modifiers unless given, the focus on the timeline canvas unless given. */
function key(k: string, extra: Partial<KeyEventLike> = {}): KeyEventLike {
  return { key: k, shiftKey: false, ctrlKey: false, metaKey: false, altKey: false, target: { tagName: 'CANVAS', getAttribute: () => null }, ...extra };
}
const on = (tagName: string, role?: string) => ({ tagName, getAttribute: (name: string) => (name === 'role' ? (role ?? null) : null) });

/** Which commands run on this event. */
const run = (event: KeyEventLike): CommandId[] => COMMAND_IDS.filter((id) => matches(id, event));

// ---- WAI-ARIA aria-keyshortcuts syntax, written from the spec's rules ------------------------
// (https://www.w3.org/TR/wai-aria-1.2/#aria-keyshortcuts): a space-separated list of shortcuts;
// each is zero or more modifiers, then exactly one non-modifier key, joined by "+"; modifiers
// come first and are named as UI Events names them; a non-modifier key is a printable
// character, "Space" for the space bar, "Plus" for a plus sign, or a UI Events key name.
const MODIFIERS = new Set(['Alt', 'Control', 'Shift', 'Meta', 'AltGraph']);
const NAMED_KEYS = new Set([
  'Space', 'Plus', 'Enter', 'Tab', 'Escape', 'Backspace', 'Delete', 'Insert', 'Home', 'End', 'PageUp', 'PageDown',
  'ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown', ...Array.from({ length: 12 }, (_, i) => `F${i + 1}`),
]);

/** The problems of an aria-keyshortcuts value (empty: valid). */
function ariaProblems(value: string): string[] {
  const problems: string[] = [];
  if (value === '' || value !== value.trim() || value.includes('  ')) problems.push(`"${value}": shortcuts must be separated by single spaces`);
  for (const shortcut of value.split(' ').filter(Boolean)) {
    const tokens = shortcut.split('+');
    const last = tokens.pop()!;
    if (tokens.some((t) => !MODIFIERS.has(t))) problems.push(`${shortcut}: only modifiers may come before the key`);
    if (new Set(tokens).size !== tokens.length) problems.push(`${shortcut}: a modifier twice`);
    const printable = [...last].length === 1 && /\S/u.test(last);
    if (MODIFIERS.has(last) || !(printable || NAMED_KEYS.has(last))) problems.push(`${shortcut}: "${last}" is not a non-modifier key`);
  }
  return problems;
}

/** An aria-keyshortcuts shortcut as a key event (the inverse of the spec's naming). */
function eventOf(shortcut: string): KeyEventLike {
  const tokens = shortcut.split('+');
  const last = tokens.pop()!;
  const k = last === 'Space' ? ' ' : last === 'Plus' ? '+' : last.length === 1 ? last.toLowerCase() : last;
  return key(k, { shiftKey: tokens.includes('Shift') });
}

describe('the aria-keyshortcuts checker', () => {
  it('accepts the spec examples and rejects broken values', () => {
    for (const ok of ['A', 'Shift+Space', 'Control+Alt+.', "Control+Shift+'", 'Alt+Shift+P Control+F', 'Meta+C Meta+Shift+C', 'Shift+ArrowRight J', '[ ]']) expect(ariaProblems(ok)).toEqual([]);
    for (const bad of ['J+Shift', 'Shift', 'Shift+', 'Ctrl+J', 'Shift+Shift+J', 'Shift+ArrowRight  J', 'Left', '', ' J']) expect(ariaProblems(bad)).not.toEqual([]);
  });
});

describe('the keybinding table', () => {
  it('gives every command valid aria-keyshortcuts, each of whose shortcuts runs that command', () => {
    for (const id of COMMAND_IDS) {
      const aria = COMMANDS[id].aria;
      expect(ariaProblems(aria), id).toEqual([]);
      for (const shortcut of aria.split(' ')) expect(run(eventOf(shortcut)), `${id}: ${shortcut}`).toContain(id);
    }
    // The controls that name several commands.
    expect(ariaProblems(ariaKeys('playback.start', 'playback.end'))).toEqual([]);
    expect(ariaProblems(ariaKeys('playback.slower', 'playback.faster'))).toEqual([]);
  });

  it('names the keys the controls named by hand before the table', () => {
    expect(ariaKeys('cursor.nextExit')).toBe('Shift+ArrowRight J');
    expect(ariaKeys('cursor.prevExit')).toBe('Shift+ArrowLeft K');
    expect(ariaKeys('cursor.prevFault')).toBe('Shift+F');
    expect(ariaKeys('playback.toggle')).toBe('Space');
    expect(ariaKeys('playback.start', 'playback.end')).toBe('Home End');
    expect(ariaKeys('playback.slower', 'playback.faster')).toBe('[ ]');
    expect(ariaKeys('help.show')).toBe('?');
    // The spec spells the plus sign "Plus" (a "+" would be read as the separator).
    expect(ariaKeys('timeline.zoomIn')).toBe('Plus W');
    expect(titleWithKeys('cursor.nextExit')).toBe('Next vmexit (Shift+→ or J)');
    expect(titleWithKeys('cursor.prevEvent')).toBe('One event back (←)');
    expect(titleWithKeys('playback.toggle', 'Pause')).toBe('Pause (Space)');
    expect(titleWithKeys('timeline.clearSelection')).toBe('Clear the selection (Escape)');
  });

  it('never lets one key event run two commands that can hear it', () => {
    // Key events on the timeline canvas bubble on to the window: window commands hear every
    // event, timeline commands only those on the canvas.
    const overlap = (a: Scope, b: Scope) => a === 'window' || b === 'window' || a === b;
    // Every chord, in both letter cases and both Shift states, on the canvas and on the page body.
    const keys = new Set<string>();
    for (const id of COMMAND_IDS) for (const c of COMMANDS[id].chords) keys.add(c.key).add(c.key.toUpperCase());
    for (const k of keys) {
      for (const shiftKey of [false, true]) {
        for (const target of [on('CANVAS'), on('BODY')]) {
          const hit = run(key(k, { shiftKey, target }));
          for (const a of hit) for (const b of hit) if (a !== b) expect(overlap(COMMANDS[a].scope, COMMANDS[b].scope), `"${k}" shift=${shiftKey}: ${a} and ${b}`).toBe(false);
        }
      }
    }
  });

  it('lists every command in the help overlay once, in the section of its scope', () => {
    const seen = new Map<CommandId, number>();
    for (const section of HELP_SECTIONS) {
      for (const row of section.rows) {
        for (const id of row.commands) {
          seen.set(id, (seen.get(id) ?? 0) + 1);
          expect(COMMANDS[id].scope, id).toBe(section.scope);
        }
        expect(row.commands.length > 0 || row.pointer !== undefined, row.what).toBe(true);
      }
    }
    for (const id of COMMAND_IDS) expect(seen.get(id), id).toBe(1);
  });

  it('shows the help rows as the overlay did before the table', () => {
    const keysOf = (what: string) => rowKeys(HELP_SECTIONS.flatMap((s) => s.rows).find((r) => r.what.startsWith(what))!);
    expect(keysOf('Previous or next vmexit')).toBe('Shift+← / Shift+→, K / J');
    expect(keysOf('Next or previous guest fault')).toBe('F / Shift+F');
    expect(keysOf('Step one event back')).toBe('← / →');
    expect(keysOf('Play slower')).toBe('[ / ]');
    expect(keysOf('Go to the start')).toBe('Home / End');
    expect(keysOf('Play or pause')).toBe('Space');
    expect(keysOf('Zoom the timeline (')).toBe('+ / -, W / S, Wheel');
    expect(keysOf('Select a time range')).toBe('Shift+drag');
  });
});

describe('matches', () => {
  it('plays and pauses on Space, except on a focused button or in a field', () => {
    expect(matches('playback.toggle', key(' '))).toBe(true);
    expect(matches('playback.toggle', key(' ', { shiftKey: true }))).toBe(true);
    expect(matches('playback.toggle', key(' ', { target: on('BUTTON') }))).toBe(false);
    for (const tag of ['INPUT', 'SELECT', 'TEXTAREA']) expect(matches('playback.toggle', key(' ', { target: on(tag) }))).toBe(false);
    expect(matches('playback.toggle', key(' ', { target: { tagName: 'DIV', isContentEditable: true } }))).toBe(false);
    expect(matches('playback.toggle', key('Enter'))).toBe(false);
  });

  it('steps by event on the arrows and by vmexit on Shift+arrows, J and K; leaves arrows to splitters', () => {
    expect(run(key('ArrowRight'))).toEqual(['cursor.nextEvent']);
    expect(run(key('ArrowLeft'))).toEqual(['cursor.prevEvent']);
    expect(run(key('ArrowRight', { shiftKey: true }))).toEqual(['cursor.nextExit']);
    expect(run(key('ArrowLeft', { shiftKey: true }))).toEqual(['cursor.prevExit']);
    expect(run(key('j'))).toEqual(['cursor.nextExit']);
    expect(run(key('k'))).toEqual(['cursor.prevExit']);
    expect(run(key('J', { shiftKey: true }))).toEqual([]);
    expect(run(key('ArrowRight', { target: on('DIV', 'separator') }))).toEqual([]);
    expect(run(key('ArrowLeft', { shiftKey: true, target: on('DIV', 'separator') }))).toEqual([]);
    // J is no arrow: a focused splitter does not keep it.
    expect(run(key('j', { target: on('DIV', 'separator') }))).toEqual(['cursor.nextExit']);
  });

  it('tells the next guest fault (F) from the previous (Shift+F), with or without Caps Lock', () => {
    expect(run(key('f'))).toEqual(['cursor.nextFault']);
    expect(run(key('F', { shiftKey: true }))).toEqual(['cursor.prevFault']);
    expect(run(key('F'))).toEqual(['cursor.nextFault']);
    expect(run(key('f', { shiftKey: true }))).toEqual(['cursor.prevFault']);
  });

  it('ignores Ctrl, Meta and Alt combinations', () => {
    for (const mod of ['ctrlKey', 'metaKey', 'altKey'] as const) {
      for (const k of ['j', ' ', 'ArrowRight', '?', 't', 'b', '[', '0', 'Escape']) expect(run(key(k, { [mod]: true })), `${mod} ${k}`).toEqual([]);
    }
  });

  it('takes the characters that need Shift on some keyboards by their value', () => {
    expect(run(key('?', { shiftKey: true }))).toEqual(['help.show']);
    expect(run(key('+', { shiftKey: true }))).toEqual(['timeline.zoomIn']);
    expect(run(key('='))).toEqual(['timeline.zoomIn']);
    expect(run(key('-'))).toEqual(['timeline.zoomOut']);
    expect(run(key(']'))).toEqual(['playback.faster']);
    expect(run(key('['))).toEqual(['playback.slower']);
    expect(run(key('0'))).toEqual(['timeline.reset']);
    expect(run(key('Home', { shiftKey: true }))).toEqual(['playback.start']);
    expect(run(key('Escape'))).toEqual(['timeline.clearSelection']);
    expect(run(key('x'))).toEqual([]);
    expect(run(key('?', { target: on('TEXTAREA') }))).toEqual([]);
  });

  it('runs each letter shortcut on its letter alone', () => {
    const letters: [string, CommandId][] = [['g', 'playback.jump'], ['b', 'notes.bookmark'], ['t', 'view.toggleTheme'], ['w', 'timeline.zoomIn'], ['s', 'timeline.zoomOut'], ['a', 'timeline.panLeft'], ['d', 'timeline.panRight'], ['z', 'timeline.zoomToSelection'], ['e', 'timeline.zoomToEvent']];
    for (const [k, id] of letters) {
      expect(run(key(k)), k).toEqual([id]);
      expect(run(key(k.toUpperCase(), { shiftKey: true })), `Shift+${k}`).toEqual([]);
      expect(run(key(k, { target: on('INPUT') })), `${k} in a field`).toEqual([]);
    }
  });
});
