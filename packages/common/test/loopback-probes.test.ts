import fs from 'node:fs';
import net from 'node:net';
import { freeLoopbackPort, listenerPortRange } from '../src/loopback-probes';

describe('listenerPortRange', () => {
  test("below the kernel's ephemeral range, from 10000", () => {
    expect(listenerPortRange('32768\t60999\n')).toEqual({ low: 10000, high: 32767 });
    expect(listenerPortRange('49152 65535')).toEqual({ low: 10000, high: 49151 });
  });

  test('without the range (not Linux), below the common default start 32768', () => {
    expect(listenerPortRange(undefined)).toEqual({ low: 10000, high: 32767 });
    expect(listenerPortRange('')).toEqual({ low: 10000, high: 32767 });
  });

  test('no range when the ephemeral range leaves less than 1,000 ports above 10000', () => {
    expect(listenerPortRange('10500\t60999')).toBeUndefined();
    expect(listenerPortRange('1024\t65535')).toBeUndefined();
  });
});

test('freeLoopbackPort gives a port a server can listen on, outside the range outgoing connections get', async () => {
  const expected = listenerPortRange(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8'));
  for (let i = 0; i < 20; i++) {
    const port = await freeLoopbackPort();
    if (expected) {
      expect(port).toBeGreaterThanOrEqual(expected.low);
      expect(port).toBeLessThanOrEqual(expected.high);
    }
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
    await new Promise((r) => server.close(r));
  }
});
