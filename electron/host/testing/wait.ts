/** For host tests: poll a condition (or an async one) every 10 ms until it holds, or fail after `timeoutMs`. */
export async function waitFor(test: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await test())) {
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}
