/**
 * Big queries are worked through in slices, one slice per turn of the event loop whatever the
 * number of big queries in progress, so the requests in between (a cache hit of another client)
 * wait for one slice at most, never for a whole flood (DESIGN behaviour 10). A 5,000-server POST
 * is about 100 ms of this pod's time; twenty at once, unsliced, held every hit for seconds.
 *
 * Slices queue here in the order they asked, and each turn lets one go: resuming every waiting
 * query at once (a plain setImmediate per query) would run all their slices back to back before
 * the loop looked at its sockets again. The queue is the process's, as the event loop is.
 */

/** Servers handled in one slice. */
export const SLICE_SERVERS = 250;

const waiting: Array<() => void> = [];
let turnScheduled = false;

function oneSlice(): void {
  const next = waiting.shift();
  // Scheduled from within this turn, the next one runs after the loop has polled its sockets.
  turnScheduled = waiting.length > 0;
  if (turnScheduled) setImmediate(oneSlice);
  next?.();
}

/** Resolves when it is this slice's turn: after the event loop's I/O, and after the slices queued before it. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    if (!turnScheduled) {
      turnScheduled = true;
      setImmediate(oneSlice);
    }
  });
}
