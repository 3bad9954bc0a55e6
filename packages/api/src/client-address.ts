/**
 * Who a request comes from, for the client limits (DESIGN behaviour 9): the peer's address, or,
 * when the peer is a trusted load balancer (NOTARY_TRUSTED_PROXIES), the last address of
 * X-Forwarded-For that is not one of them (read from the right: entries further left were written
 * by the client itself and prove nothing). IPv6 clients count per /64, the block one subscriber
 * gets, so a client cannot take a fresh identity for every request.
 */
import type { IncomingMessage } from 'node:http';
import { LRUCache } from 'lru-cache';
import { CidrSet, parseAddress, type IpAddress } from '@matrix-notary/common';

export interface Client {
  /** The identity limits are counted under: an IPv4 address, or an IPv6 /64 as `2001:db8:1:2::/64`. */
  key: string;
  /** In NOTARY_UNLIMITED_CLIENTS: no limit applies. */
  unlimited: boolean;
}

/** Most X-Forwarded-For entries read: a longer header is someone's padding, not a proxy chain. */
const MAX_FORWARDED_HOPS = 20;

function keyOf(addr: IpAddress): string {
  if (addr.kind() === 'ipv4') return addr.toString();
  const parts = (addr as import('ipaddr.js').IPv6).parts.slice(0, 4).map((p) => p.toString(16));
  return `${parts.join(':')}::/64`;
}

interface Peer {
  addr: IpAddress | undefined;
  client: Client;
  /** A trusted load balancer: the client is named in its X-Forwarded-For. */
  trusted: boolean;
}

export class ClientIdentifier {
  private readonly trusted: CidrSet;
  private readonly unlimited: CidrSet;
  /** Peers seen recently: the same clients and proxies come back over and over. */
  private readonly peers = new LRUCache<string, Peer>({ max: 10_000 });

  constructor(trustedProxies: readonly string[], unlimited: readonly string[]) {
    this.trusted = new CidrSet(trustedProxies);
    this.unlimited = new CidrSet(unlimited);
  }

  identify(req: IncomingMessage): Client {
    const peerText = req.socket.remoteAddress ?? '';
    let peer = this.peers.get(peerText);
    if (peer === undefined) {
      const addr = parseAddress(peerText);
      // A socket always has an address; a destroyed one has none and gets one shared bucket.
      peer = { addr, client: addr === undefined ? UNKNOWN : this.client(addr), trusted: this.trusted.has(addr) };
      this.peers.set(peerText, peer);
    }
    return peer.trusted ? this.fromForwarded(peer.addr as IpAddress, req.headers['x-forwarded-for']) : peer.client;
  }

  private client(addr: IpAddress): Client {
    return { key: keyOf(addr), unlimited: this.unlimited.has(addr) };
  }

  /** The client behind the trusted proxy `peer`. */
  private fromForwarded(peer: IpAddress, header: string | string[] | undefined): Client {
    const hops = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',');
    let nearest = peer;
    for (let i = hops.length - 1, n = 0; i >= 0 && n < MAX_FORWARDED_HOPS && this.trusted.has(nearest); i--, n++) {
      const hop = parseAddress(hops[i].trim());
      // Not an address: whoever wrote it (the nearest hop so far) is the client we can name.
      if (hop === undefined) break;
      nearest = hop;
    }
    return this.client(nearest);
  }
}

const UNKNOWN: Client = { key: 'unknown', unlimited: false };
