/**
 * Waits for `work` to settle, but no longer than `ms`: for closing things that would otherwise
 * wait on a peer that is gone (a stopping role must stop even while Redis is down). Errors are
 * swallowed: whatever was being closed is abandoned either way.
 */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([work.catch(() => undefined), new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
