// A recording cut short (issue 18 §5): the session header says up to when all lanes and each lane
// are complete, with the numbers `mmu-lab info` gives for the same file (the CLI, not the app),
// and the timeline hatches the incomplete tail (its text alternative, data attributes, tooltip).
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, mmuLab, root, test } from './fixtures';

interface Info {
  startNs: number;
  completeness?: { allLanesNs: number; lanes: { vm: number; vcpu: number; events: number; completeNs: number }[] };
}

/** `mmu-lab info` of a cut file: it exits 2 (data lost), so it is run here rather than through mmuLab(). */
function info(file: string, json: boolean): string {
  const r = spawnSync(process.execPath, [join(root, 'bin', 'mmu-lab.js'), 'info', file, ...(json ? ['--json'] : [])], { cwd: root, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(2);
  return r.stdout;
}

test('a cut 2-vCPU session says up to when its lanes are complete and hatches the tail', async ({ lab, app, page }) => {
  // Two vCPUs demand-faulting 4096 pages each, cut at about 30 % of its bytes. The recorder also
  // flushes lanes on a wall-clock timer, so where each lane's chunks end varies run to run: the
  // cut is moved in 1 % steps around 30 % until one lane reaches clearly further than the other
  // (the tail to mark), as `mmu-lab info` (the CLI) says.
  const scenario = join(lab.sessionsDir, 'two.json');
  writeFileSync(scenario, JSON.stringify({ name: 'two-vcpu-cut', seed: 1, vms: [{ vcpus: 2, memoryMiB: 256, mmu: { mode: 'tdp' }, guest: { workload: { kind: 'demand-paging', pages: 4096 } } }] }));
  const whole = join(lab.sessionsDir, 'whole.tmp');
  mmuLab(['record', scenario, '-o', whole, '-q']);
  const bytes = readFileSync(whole);
  const cut = join(lab.sessionsDir, 'cut.mmulab');
  let j: Info | undefined;
  for (const pct of [30, 29, 31, 28, 32, 27, 33, 26, 34, 25, 35, 24, 36, 23, 37, 22, 38, 21, 39, 20, 40]) {
    writeFileSync(cut, bytes.subarray(0, Math.floor((bytes.length * pct) / 100)));
    const got = JSON.parse(info(cut, true)) as Info;
    const lanes = got.completeness?.lanes ?? [];
    const times = lanes.map((l) => l.completeNs);
    if (lanes.length === 2 && lanes.every((l) => l.events > 0) && Math.max(...times) > 1.2 * Math.min(...times)) {
      j = got;
      break;
    }
  }
  expect(j, 'a cut between 20 % and 40 % where one lane is complete clearly further than the other').toBeDefined();
  const c = j!.completeness!;
  expect(j!.startNs).toBe(0);
  const [early, late] = [...c.lanes].sort((a, b) => a.completeNs - b.completeNs);
  expect(early!.completeNs).toBe(c.allLanesNs);
  // The CLI's own wording of the times (it formats independently of the renderer).
  const text = info(cut, false);
  const allText = /all vCPUs up to (t = [^;]+);/.exec(text)![1]!;
  const laneText = new RegExp(`VM ${late!.vm} vCPU ${late!.vcpu}: complete up to (t = .+)`).exec(text)![1]!.trim();

  await app.goto(lab.url);
  await app.openSession('cut.mmulab');

  // The header, in those words and with the same numbers.
  const box = page.getByTestId('completeness');
  await expect(box).toHaveAttribute('data-all-lanes-ns', String(c.allLanesNs));
  await expect(page.getByTestId('complete-all')).toHaveText(`Complete up to ${allText} for all lanes; after that some lanes' events may be missing.`);
  // Only the lane that differs gets its own line.
  const lanes = page.getByTestId('complete-lane');
  await expect(lanes).toHaveCount(1);
  await expect(lanes).toHaveAttribute('data-complete-ns', String(late!.completeNs));
  await expect(lanes).toHaveText(`VM ${late!.vm} · vCPU ${late!.vcpu} complete up to ${laneText}`);

  // The timeline marks the tail: the whole width after allLanesNs, each lane after its own time.
  const canvas = page.getByTestId('timeline-canvas');
  await expect(canvas).toHaveAttribute('data-incomplete-from', String(c.allLanesNs));
  await expect(canvas).toHaveAttribute('data-lane-complete', c.lanes.map((l) => `${l.vm}/${l.vcpu}:${l.completeNs}`).join(' '));
  await expect(canvas).toHaveAttribute('aria-label', new RegExp(`Hatched after ${allText.slice(4).replace('.', '\\.')} `));
  await expect(page.getByTestId('incomplete-legend')).toContainText('events there may be missing');

  // Hovering the early lane past its complete time says so; the late lane there is not marked.
  const rect = (await canvas.boundingBox())!;
  const x0 = Number(await canvas.getAttribute('data-plot-x0'));
  const nsPerPx = Number(await canvas.getAttribute('data-ns-per-px'));
  const tailX = x0 + (c.allLanesNs + (late!.completeNs - c.allLanesNs) / 2) / nsPerPx;
  const laneY = (index: number) => 26 + 4 + 30 * index + 13; // ruler, gap, lanes of 30 px (timeline-view.vue)
  const earlyIndex = c.lanes.findIndex((l) => l === early);
  await page.mouse.move(rect.x + tailX, rect.y + laneY(earlyIndex));
  await expect(page.getByRole('tooltip')).toContainText(`incomplete after ${allText.slice(4)}`);

  // The pixels: above the guest band of the early lane (rows 1-9 of its 26), where it has no
  // events after its complete time, the tail is striped: more than one colour in a short column.
  const colours = await canvas.evaluate((el: HTMLCanvasElement, a: { x: number; top: number }) => {
    const ctx = el.getContext('2d')!;
    const dpr = el.width / el.clientWidth;
    const seen = new Set<string>();
    for (let dy = 1; dy <= 9; dy++) seen.add(Array.from(ctx.getImageData(Math.round(a.x * dpr), Math.round((a.top + dy) * dpr), 1, 1).data).join(','));
    return seen.size;
  }, { x: tailX + 40, top: 26 + 4 + 30 * earlyIndex });
  expect(colours).toBeGreaterThan(1);
  app.expectNoErrors();
});
