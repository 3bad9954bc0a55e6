/**
 * The address filter, applied where the connection is made: the `lookup` that Node's socket uses
 * only ever hands it allowed addresses, and every socket's remote address is checked again once it
 * is connected. So an answer that changes between an earlier lookup and the connect (DNS
 * rebinding) cannot reach a forbidden address, whatever path led to the connect.
 */
import type { LookupAddress, LookupOptions } from 'node:dns';
import type { LookupFunction, Socket } from 'node:net';
import { isForbiddenAddress, type AddressPolicy } from './address-filter';
import type { NameResolver } from './dns-resolver';
import { OriginFetchError } from './errors';

export function createGuardedLookup(resolver: NameResolver, policy: AddressPolicy): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    resolver.resolveHost(hostname).then(
      (found) => {
        const wanted = options.family === 4 || options.family === 6 ? found.filter((a) => a.family === options.family) : found;
        const allowed = wanted.filter((a) => !isForbiddenAddress(a.address, policy));
        if (allowed.length === 0) {
          const list = wanted.map((a) => a.address).join(', ') || 'no address of the family asked';
          callback(
            new OriginFetchError('forbidden_address', `${hostname} resolves only to forbidden addresses (${list})`),
            '',
          );
          return;
        }
        if (options.all) callback(null, allowed.map((a): LookupAddress => ({ address: a.address, family: a.family })));
        else callback(null, allowed[0]!.address, allowed[0]!.family);
      },
      (err: unknown) => callback(err as NodeJS.ErrnoException, ''),
    );
  };
}

/** Destroys `socket` if it is, or once connected turns out to be, connected to a forbidden address. */
export function guardSocket(socket: Socket, policy: AddressPolicy): void {
  const check = (): void => {
    const remote = socket.remoteAddress;
    if (remote === undefined || isForbiddenAddress(remote, policy)) {
      socket.destroy(
        new OriginFetchError('forbidden_address', `connected to forbidden address ${remote ?? '(unknown)'}; closed`),
      );
    }
  };
  // Prepended so it runs before TLS starts its handshake on 'connect': nothing is sent after the check fails.
  if (socket.connecting) socket.prependOnceListener('connect', check);
  else if (!socket.destroyed) check();
}
