/**
 * This process's CPU time (user + system) in ms. Tests bound the cost of one case by it rather
 * than by the wall clock, which the other processes of a loaded machine stretch; the reader's
 * work is synchronous, so a case that loops or inflates too much still runs it up.
 */
export function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}
