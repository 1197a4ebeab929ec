/**
 * A recorder for the kill test: writes synthetic events until it is killed, and after each
 * explicit flush prints `durable <n>` (the first n events are then in complete chunks).
 * Usage: node --import tsx killChild.ts <out.mmulab> <seed>
 */
import { writeSync } from 'node:fs';
import { SessionWriter } from '../writer.ts';
import { syntheticStream } from './synthetic.ts';

const [out, seedText] = process.argv.slice(2);
const seed = Number(seedText ?? 1);
const vcpus = [2, 2];
const w = SessionWriter.create(out!, { scenario: { name: 'kill test', seed, vms: vcpus.map((n) => ({ vcpus: n })) }, vcpus }, { chunkEvents: 512 });
writeSync(1, 'ready\n');
let n = 0;
for (const e of syntheticStream({ seed, vcpus })) {
  w.append(e);
  n++;
  if (n % 3000 === 0) {
    w.flush();
    writeSync(1, `durable ${n}\n`);
  }
  if (n >= 20_000_000) break;
}
w.close({ complete: true });
