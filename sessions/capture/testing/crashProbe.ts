/**
 * A capture that ends badly, for capture.test.ts: starts a capture, prints its instance's path,
 * then throws (`throw`), waits to be signalled (`wait`) or to be killed (`kill`: SIGKILL leaves
 * the instance for the next capture to remove).
 * Usage: node --import tsx sessions/capture/testing/crashProbe.ts throw|wait
 */
import { Capture } from '../capture.ts';

const mode = process.argv[2];
const c = new Capture({ pids: [process.pid] });
c.start();
console.log(c.instanceDir);
if (mode === 'throw') setTimeout(() => {
  throw new Error('crash on purpose');
}, 50);
else setInterval(() => {}, 1000);
