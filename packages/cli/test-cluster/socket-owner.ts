/**
 * Which of some processes owns the local end of a loopback TCP connection, from /proc (Linux):
 * the connection's socket inode in /proc/net/tcp{,6}, then the process holding that inode.
 * Used to SIGKILL the very worker that is fetching an origin.
 */
import fs from 'node:fs';

function inodeOfLocalPort(port: number): string | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      // fields[1]: local address:port (hex); fields[9]: inode.
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[9] && fields[9] !== '0') return fields[9];
    }
  }
  return undefined;
}

/** The pid among `pids` whose process has a socket bound to local `port`, if any. */
export function pidOwningLocalPort(port: number, pids: readonly number[]): number | undefined {
  const inode = inodeOfLocalPort(port);
  if (inode === undefined) return undefined;
  const wanted = `socket:[${inode}]`;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (fs.readlinkSync(`/proc/${pid}/fd/${fd}`) === wanted) return pid;
      } catch {
        // the descriptor closed meanwhile
      }
    }
  }
  return undefined;
}
