import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { QueueProbe } from '../../../src/transport/queue-probe.ts';

/**
 * The probe's clock is the test's: the wait it measures is the clock's advance between a
 * probe leaving and being read back, whatever the machine's speed.
 */
describe('the receive-queue probe', () => {
  const listener = createSocket('udp4');
  const arrived: { data: Buffer; address: string; port: number }[] = [];
  let clock = 0;
  let probe: QueueProbe;

  before(async () => {
    listener.bind(0, '127.0.0.1');
    await once(listener, 'listening');
    listener.on('message', (data, remote) =>
      arrived.push({ data, address: remote.address, port: remote.port }),
    );
    probe = await QueueProbe.start({
      host: '0.0.0.0',
      port: listener.address().port,
      family: 4,
      intervalMs: 3_600_000,
      now: () => clock,
    });
  });

  after(() => {
    probe.close();
    listener.close();
  });

  async function nextArrival(): Promise<{ data: Buffer; address: string; port: number }> {
    while (arrived.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    return arrived.shift()!;
  }

  test('measures how long a probe waited, and counts one not yet read as waiting still', async () => {
    assert.equal(probe.ageMs(), 0);
    clock = 1000;
    probe.send();
    const first = await nextArrival();
    // Read back 300 ms (of the probe's clock) later: the work beside it waited that long.
    clock = 1300;
    assert.equal(probe.take(first.address, first.port, first.data), true);
    assert.equal(probe.ageMs(), 300);
    // The next probe is out and not read yet: the age is at least its time outstanding.
    probe.send();
    const second = await nextArrival();
    clock = 1450;
    assert.equal(probe.ageMs(), 300);
    clock = 1900;
    assert.equal(probe.ageMs(), 600);
    assert.equal(probe.take(second.address, second.port, second.data), true);
    assert.equal(probe.ageMs(), 600);
    // Read at once: the queue is empty again.
    probe.send();
    const third = await nextArrival();
    assert.equal(probe.take(third.address, third.port, third.data), true);
    assert.equal(probe.ageMs(), 0);
  });

  test('takes no datagram from another socket, even a copy of a probe', async () => {
    probe.send();
    const real = await nextArrival();
    const other = createSocket('udp4');
    other.bind(0, '127.0.0.1');
    await once(other, 'listening');
    other.send(real.data, listener.address().port, '127.0.0.1');
    const copy = await nextArrival();
    other.close();
    assert.equal(probe.take(copy.address, copy.port, copy.data), false);
    // From the probe's address with other content: not ours either.
    assert.equal(probe.take(real.address, real.port, Buffer.from('INVITE sip:a@b SIP/2.0\r\n\r\n')), false);
    assert.equal(probe.take(real.address, real.port, real.data), true);
  });
});
