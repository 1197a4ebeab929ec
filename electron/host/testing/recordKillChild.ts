// Child for recorderFiles.test.ts: a host records an endless 2-VM run from real workers; once
// events are recorded it pauses the workers, waits until they answered, then waits `quietMs` (no event
// arrives, so only the recorder's timer can flush), prints the run's event count and "ready", and waits to be killed.
import { HostService } from '../hostService.ts';
import { ENDLESS, kbuildScenario } from './scenarios.ts';
import { waitFor } from './wait.ts';

const [dir, quietMs] = [process.argv[2]!, Number(process.argv[3] ?? 600)];
const service = new HostService({ sessionsDir: dir, host: 'browser', progressIntervalMs: 50 });
const run = await service.vms.start(kbuildScenario('kill child', 7, [ENDLESS, ENDLESS]), { sessionId: 'killed.mmulab' });
await waitFor(() => service.vms.status(run.runId).events >= 5000);
service.vms.control(run.runId, 'pause');
// Every worker answered the pause: all it computed is recorded, and no event comes after this count.
const { events } = await service.vms.whenPaused(run.runId);
// The recorder's flush timer (250 ms interval, armed before this wait) fires before this one ends.
await new Promise((r) => setTimeout(r, quietMs));
process.stdout.write(`events ${events}\nready\n`);
setInterval(() => 0, 1000);
