// Playback by events, as a user drives it with the keyboard and the buttons: one event at a
// time, the next/previous vmexit, the next guest fault, a typed time, start and end. Where it
// lands is checked against `mmu-lab export --format jsonl` of the same session (line i of the
// export is event #i).
import { expect, mmuLab, test } from './fixtures';

interface Ev {
  t: number;
  type: string;
}

function exportEvents(file: string): Ev[] {
  return mmuLab(['export', file, '--format', 'jsonl'])
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Ev);
}

/** Index of the first event after `from` (or the last before it, dir -1) whose type is `type`. */
function nextOf(events: Ev[], from: number, type: string, dir: 1 | -1): number {
  for (let i = from + dir; i >= 0 && i < events.length; i += dir) if (events[i]!.type === type) return i;
  return -1;
}

test('stepping by event, by exit and by guest fault lands where the export says', async ({ lab, app, page }) => {
  const file = lab.record('demand-zap');
  const events = exportEvents(file);
  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');

  const current = page.locator('[data-testid="event-table"] tr[aria-current="true"]');
  const expectAt = async (i: number) => {
    await expect(current.locator('td').first()).toHaveText(String(i));
    await expect(current.locator('td.type')).toHaveText(events[i]!.type);
  };

  // The run starts at its first event.
  await expectAt(0);
  await page.getByTestId('timeline-canvas').focus();

  // → one event forward, ← one back.
  await page.keyboard.press('ArrowRight');
  await expectAt(1);
  await page.keyboard.press('ArrowRight');
  await expectAt(2);
  await page.keyboard.press('ArrowLeft');
  await expectAt(1);

  // J / Shift+→: next vmexit; K / Shift+←: previous.
  let at = 1;
  at = nextOf(events, at, 'vmexit', 1);
  await page.keyboard.press('j');
  await expectAt(at);
  at = nextOf(events, at, 'vmexit', 1);
  await page.keyboard.press('Shift+ArrowRight');
  await expectAt(at);
  at = nextOf(events, at, 'vmexit', -1);
  await page.keyboard.press('k');
  await expectAt(at);
  at = nextOf(events, at, 'vmexit', -1);
  await page.keyboard.press('Shift+ArrowLeft');
  await expectAt(at);

  // F: next guest fault, twice; Shift+F back to the first.
  const fault1 = nextOf(events, at, 'guest_fault', 1);
  const fault2 = nextOf(events, fault1, 'guest_fault', 1);
  await page.keyboard.press('f');
  await expectAt(fault1);
  await page.keyboard.press('f');
  await expectAt(fault2);
  await page.keyboard.press('Shift+F');
  await expectAt(fault1);

  // The same with the buttons (each has an accessible name).
  await page.getByRole('button', { name: 'Next vmexit' }).click();
  await expectAt(nextOf(events, fault1, 'vmexit', 1));
  await page.getByRole('button', { name: 'Step forward one event' }).click();
  await expectAt(nextOf(events, fault1, 'vmexit', 1) + 1);

  // End: the last event; Home: the first; past the last exit there is none.
  await page.getByTestId('timeline-canvas').focus();
  await page.keyboard.press('End');
  await expectAt(events.length - 1);
  const lastExit = nextOf(events, events.length, 'vmexit', -1);
  if (lastExit === events.length - 1) {
    await page.keyboard.press('j');
    await expect(page.getByTestId('not-found')).toHaveText('No later vmexit.');
  }
  await page.keyboard.press('Home');
  await expectAt(0);
  await expect(app.position).toHaveText('0 ns');

  // G focuses "Jump to"; a typed time lands on the last event at or before it.
  const target = 100_000;
  let expected = 0;
  for (let i = 0; i < events.length; i++) if (events[i]!.t <= target) expected = i;
  await page.keyboard.press('g');
  await expect(page.getByTestId('jump-time')).toBeFocused();
  await page.keyboard.type('100 µs');
  await page.keyboard.press('Enter');
  await expect(app.position).toHaveText('100.000 µs');
  await expectAt(expected);

  // A time that is not a time says so.
  await page.getByTestId('jump-time').fill('soon');
  await page.getByRole('button', { name: 'Go to the time' }).click();
  await expect(page.getByRole('alert')).toContainText('Type a time');

  // The density strip over the slider seeks where it is clicked.
  const strip = page.getByTestId('density');
  const box = (await strip.boundingBox())!;
  await page.mouse.click(box.x + box.width * 0.75, box.y + box.height / 2);
  await expect(app.position).not.toHaveText('100.000 µs');
});

test('the help overlay lists every playback shortcut', async ({ lab, app, page }) => {
  lab.record('demand-zap');
  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  await page.getByRole('button', { name: 'Keyboard shortcuts' }).click();
  const help = page.getByRole('dialog', { name: 'Keyboard shortcuts' });
  for (const text of ['Play or pause', 'Step one event back or forward', 'Previous or next vmexit', 'Next or previous guest fault', 'Go to the start or the end', 'Jump to a time', 'Select a time range']) {
    await expect(help).toContainText(text);
  }
  await expect(help).toContainText('Play slower or faster');
  await help.getByRole('button', { name: 'Close' }).click();
  // ] and [ change the speed.
  await page.getByTestId('timeline-canvas').focus();
  await page.keyboard.press(']');
  await expect(page.getByTestId('speed')).toHaveValue('2');
  await page.keyboard.press('[');
  await page.keyboard.press('[');
  await expect(page.getByTestId('speed')).toHaveValue('0.5');
  // Every playback control names its shortcut for assistive technology.
  const group = page.getByRole('group', { name: 'Playback' });
  for (const name of ['Play', 'Previous vmexit', 'Next vmexit', 'Step back one event', 'Step forward one event', 'Next guest fault', 'Previous guest fault', 'Go to the start', 'Go to the end']) {
    await expect(group.getByRole('button', { name, exact: true })).toHaveAttribute('aria-keyshortcuts', /.+/);
  }

  // Every key that a control names in its aria-keyshortcuts (read from the page: the main view,
  // then the Notes tab) is listed in the help overlay, on a row that shows it as people read it.
  const named = () => page.locator('[aria-keyshortcuts]').evaluateAll((els) => els.flatMap((el) => (el.getAttribute('aria-keyshortcuts') ?? '').split(' ').filter(Boolean)));
  const controlKeys = new Set(await named());
  await page.getByRole('tab', { name: 'Notes' }).click();
  for (const k of await named()) controlKeys.add(k);
  expect(controlKeys.size).toBeGreaterThan(15);
  // The spec's key names as the overlay shows them: arrows as arrows, Plus as +.
  const shown = (shortcut: string) => shortcut.replace('ArrowLeft', '←').replace('ArrowRight', '→').replace('Plus', '+');
  await page.getByRole('button', { name: 'Keyboard shortcuts' }).click();
  for (const shortcut of controlKeys) {
    const row = help.locator(`tr[data-keyshortcuts~="${shortcut}"]`);
    await expect(row, shortcut).toBeVisible();
    await expect(row.locator('th'), shortcut).toContainText(shown(shortcut));
  }
  await help.getByRole('button', { name: 'Close' }).click();
});

test('zoom to an exit keeps its neighbours on its lane in view, and read its details', async ({ lab, app, page }) => {
  const file = lab.record('demand-zap');
  const events = mmuLab(['export', file, '--format', 'jsonl'])
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Ev & { reason?: string; handling?: string; duration?: number; vm: number; vcpu: number });
  await app.goto(lab.url);
  await app.openSession('demand-zap.mmulab');
  const canvas = page.getByTestId('timeline-canvas');
  await canvas.focus();
  // The third exit, then E: the timeline shows that exit with the events before and after it.
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  await page.keyboard.press('j');
  const exits = events.map((e, i) => ({ e, i })).filter(({ e }) => e.type === 'vmexit');
  const third = exits[2]!;
  await expect(page.getByTestId('current-event')).toHaveText(`event #${third.i} · vmexit`);
  const lane = (e: (typeof events)[number]) => e.vm === third.e.vm && e.vcpu === third.e.vcpu;
  const before = events.slice(0, third.i).reverse().find(lane)!;
  const after = events.slice(third.i + 1).find(lane)!;
  await page.keyboard.press('e');
  const win = page.getByTestId('view-window');
  await expect.poll(async () => Number(await win.getAttribute('data-t0'))).toBeLessThanOrEqual(before.t);
  const t0 = Number(await win.getAttribute('data-t0'));
  const t1 = Number(await win.getAttribute('data-t1'));
  expect(t1).toBeGreaterThanOrEqual(after.t);
  expect(t1 - t0).toBeLessThan(20 * Math.max(third.e.duration ?? 1, after.t - before.t));

  // Hovering its bar names it as the export does.
  const box = (await canvas.boundingBox())!;
  const plotLeft = box.x + 112; // the lane labels' column
  const mid = third.e.t + (third.e.duration ?? 0) / 2;
  await page.mouse.move(plotLeft + ((mid - t0) / (t1 - t0)) * (box.width - 112), box.y + 26 + 4 + 13);
  await expect(page.getByRole('tooltip')).toContainText(`${third.e.reason} → ${third.e.handling}`);
  // The inspector shows its fields: reason, handling and duration.
  const row = page.locator('[data-testid="event-table"] tr[aria-current="true"]');
  await expect(row.locator('td.details')).toContainText(`reason=${third.e.reason}`);
  await expect(row.locator('td.details')).toContainText(`handling=${third.e.handling}`);
});
