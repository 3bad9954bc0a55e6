/**
 * A tiny authoritative DNS server for tests, on a loopback UDP port: it answers A, AAAA, CNAME and
 * SRV questions from records the test sets, with the TTLs the test gives, and can answer a name
 * differently on each query (DNS rebinding). Usable as NOTARY_DNS_SERVERS `127.0.0.1:<port>`.
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import * as packet from 'dns-packet';

export type TestDnsRecord =
  | { type: 'A' | 'AAAA'; address: string; ttl?: number }
  | { type: 'CNAME'; target: string; ttl?: number }
  | { type: 'SRV'; target: string; port: number; priority?: number; weight?: number; ttl?: number };

type RecordType = TestDnsRecord['type'];

export interface TestDnsQuery {
  name: string;
  type: string;
}

const DEFAULT_TTL_S = 300;
const RCODE_NXDOMAIN = 3;
const MAX_CNAME_CHAIN = 8;

export class TestDnsServer {
  /** Every question received, in order. */
  readonly queries: TestDnsQuery[] = [];
  private readonly records = new Map<string, TestDnsRecord[]>();
  private readonly sequences = new Map<string, { answers: TestDnsRecord[][]; served: number }>();

  private constructor(
    private readonly socket: dgram.Socket,
    readonly address: string,
    readonly port: number,
  ) {
    socket.on('message', (msg, rinfo) => this.answer(msg, rinfo));
  }

  static async start(address = '127.0.0.1'): Promise<TestDnsServer> {
    const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, address, () => {
        socket.off('error', reject);
        resolve();
      });
    });
    return new TestDnsServer(socket, address, (socket.address() as AddressInfo).port);
  }

  /** The server in NOTARY_DNS_SERVERS form. */
  get resolverAddress(): string {
    return this.address.includes(':') ? `[${this.address}]:${this.port}` : `${this.address}:${this.port}`;
  }

  /** Replaces every record of `name`. */
  set(name: string, records: TestDnsRecord[]): void {
    this.records.set(normalise(name), records);
  }

  /** The nth question of `type` about `name` gets answers[n]; the last entry answers every later one. */
  setSequence(name: string, type: RecordType, answers: TestDnsRecord[][]): void {
    if (answers.length === 0) throw new Error('setSequence needs at least one answer');
    this.sequences.set(`${normalise(name)}/${type}`, { answers, served: 0 });
  }

  queryCount(name: string, type?: string): number {
    const n = normalise(name);
    return this.queries.filter((q) => q.name === n && (type === undefined || q.type === type)).length;
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }

  private answer(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    let query: packet.DecodedPacket;
    try {
      query = packet.decode(msg);
    } catch {
      return; // not DNS: a real server would drop it too
    }
    const question = query.questions?.[0];
    if (!question) return;
    const name = normalise(question.name);
    this.queries.push({ name, type: question.type });
    const { answers, known } = this.lookup(name, question.type, 0);
    const flags =
      packet.AUTHORITATIVE_ANSWER |
      packet.RECURSION_AVAILABLE |
      (query.flag_rd ? packet.RECURSION_DESIRED : 0) |
      (known ? 0 : RCODE_NXDOMAIN);
    const reply = packet.encode({ type: 'response', id: query.id, flags, questions: [question], answers });
    this.socket.send(reply, rinfo.port, rinfo.address);
  }

  private lookup(name: string, type: string, depth: number): { answers: packet.Answer[]; known: boolean } {
    const sequence = this.sequences.get(`${name}/${type}`);
    if (sequence) {
      const pick = sequence.answers[Math.min(sequence.served, sequence.answers.length - 1)]!;
      sequence.served++;
      return { answers: pick.map((r) => toAnswer(name, r)), known: true };
    }
    const records = this.records.get(name);
    const hasSequence = [...this.sequences.keys()].some((k) => k.startsWith(`${name}/`));
    if (!records) return { answers: [], known: hasSequence };
    const cname = records.find((r) => r.type === 'CNAME');
    if (cname && type !== 'CNAME' && cname.type === 'CNAME' && depth < MAX_CNAME_CHAIN) {
      const rest = this.lookup(normalise(cname.target), type, depth + 1);
      return { answers: [toAnswer(name, cname), ...rest.answers], known: true };
    }
    return { answers: records.filter((r) => r.type === type).map((r) => toAnswer(name, r)), known: true };
  }
}

function normalise(name: string): string {
  return name.toLowerCase().replace(/\.$/, '');
}

function toAnswer(name: string, r: TestDnsRecord): packet.Answer {
  const ttl = r.ttl ?? DEFAULT_TTL_S;
  switch (r.type) {
    case 'A':
    case 'AAAA':
      return { type: r.type, name, ttl, data: r.address };
    case 'CNAME':
      return { type: 'CNAME', name, ttl, data: r.target };
    case 'SRV':
      return { type: 'SRV', name, ttl, data: { target: r.target, port: r.port, priority: r.priority ?? 10, weight: r.weight ?? 0 } };
  }
}
