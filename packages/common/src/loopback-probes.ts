/**
 * Two small probes of this machine's loopback interface, for `all`'s first-run defaults and for
 * the test helpers that start servers: a port nothing listens on, and whether a Redis answers.
 */
import fs from 'node:fs';
import net from 'node:net';

/** True when something at host:port answers a Redis PING within timeoutMs. */
export function redisAnswers(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d) => done(d.toString().startsWith('+PONG') || d.toString().startsWith('-NOAUTH')));
  });
}

/** Where listener ports are picked from when the kernel's ephemeral range cannot be read. */
const FALLBACK_EPHEMERAL_START = 32768;
/** The lowest port picked: above the well-known and most registered service ports. */
const LOWEST_LISTENER_PORT = 10000;
/** Random ports tried before leaving the choice to the kernel. */
const LISTENER_PORT_TRIES = 50;

/**
 * The ports a listener can be given without racing outgoing connections: from LOWEST_LISTENER_PORT
 * up to (not including) the start of the kernel's ephemeral range, read from
 * /proc/sys/net/ipv4/ip_local_port_range's text ("32768\t60999"); undefined when that range
 * leaves no room below it.
 */
export function listenerPortRange(ephemeralRangeText: string | undefined): { low: number; high: number } | undefined {
  const start = Number(/^\s*(\d+)/.exec(ephemeralRangeText ?? '')?.[1] ?? FALLBACK_EPHEMERAL_START);
  const high = start - 1;
  return high - LOWEST_LISTENER_PORT >= 1000 ? { low: LOWEST_LISTENER_PORT, high } : undefined;
}

function ephemeralRangeText(): string | undefined {
  try {
    return fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8');
  } catch {
    return undefined; // not Linux: the fallback start is the common default (IANA's is 49152)
  }
}

/** Listens on 127.0.0.1:port (0: the kernel picks) and closes again; the port, or undefined if taken. */
function tryPort(port: number): Promise<number | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EADDRINUSE' || err.code === 'EACCES' ? resolve(undefined) : reject(err)));
    server.listen(port, '127.0.0.1', () => {
      const { port: got } = server.address() as net.AddressInfo;
      server.close(() => resolve(got));
    });
  });
}

/**
 * A port on 127.0.0.1 that nothing listened on a moment ago, for a server another process will
 * open (the caller must still expect a race). Picked at random below the kernel's ephemeral
 * range: a port the kernel hands out (listen on port 0) is one it may give the next outgoing
 * connection too, and a process opening many (a worker connecting to every node of a Redis
 * Cluster) took such a port between the pick and the listen, in CI. Falls back to the kernel's
 * choice when no room or no free port is found there.
 */
export async function freeLoopbackPort(): Promise<number> {
  const range = listenerPortRange(ephemeralRangeText());
  for (let i = 0; range && i < LISTENER_PORT_TRIES; i++) {
    const port = await tryPort(range.low + Math.floor(Math.random() * (range.high - range.low + 1)));
    if (port !== undefined) return port;
  }
  const port = await tryPort(0);
  if (port === undefined) throw new Error('no free port on 127.0.0.1');
  return port;
}
