/**
 * The listen suite: how long a record accepted by a holder takes to reach its listeners, beside
 * a raw TCP push measured in the same run.
 *
 * - one listener: 20 nodes over loopback TCP in this process; a record is accepted by the node
 *   closest to the key (a local put there) and timed until the listener's subscriber has it;
 *   the baseline is one 150-byte frame written to one TCP client;
 * - fan-out to 1,000 listeners on one key: 50 nodes with 20 subscribers each; the time until
 *   each of the 1,000 has the record, and until the last has it; the baseline writes one frame
 *   to 1,000 TCP clients.
 * Records live in memory here: the figures are the push path, not a disk commit.
 */
import { mutableRecord } from '../src/dht/records.ts';
import { compareDistance } from '../src/dht/xor.ts';
import { NodeIdentity } from '../src/node/identity.ts';
import type { MyDhtNode } from '../src/node/node.ts';
import { createTestnet } from '../src/testnet.ts';
import { openRawPush } from './baselines/raw-push.ts';
import type { Figure, Suite } from './figure.ts';
import { percentile } from './measure.ts';

const UPDATES = 200;
const FAN_UPDATES = 20;
const author = NodeIdentity.generate();
const update = (seq: number) => mutableRecord(author, new TextEncoder().encode(`update ${seq}`), seq, new TextEncoder().encode('bench'));

/** Subscribe `perNode` times on each node; `arrived(seq)` resolves with each subscriber's arrival time of that seq. */
async function subscribe(nodes: MyDhtNode[], perNode: number, key: Uint8Array) {
  const arrivals = new Map<number, number[]>();
  const waiting = new Map<number, () => void>();
  const total = nodes.length * perNode;
  const subscriptions = nodes.flatMap((node) => Array.from({ length: perNode }, () => node.listen(key)));
  await Promise.all(subscriptions.map((subscription) => subscription.ready));
  for (const subscription of subscriptions) {
    void (async () => {
      for await (const item of subscription) {
        if (item.type !== 'record' || item.record.kind !== 'mutable') continue;
        const at = performance.now();
        const list = arrivals.get(item.record.seq) ?? [];
        list.push(at);
        arrivals.set(item.record.seq, list);
        if (list.length === total) waiting.get(item.record.seq)?.();
      }
    })();
  }
  return {
    arrived: (seq: number) =>
      new Promise<number[]>((resolve) => {
        if ((arrivals.get(seq)?.length ?? 0) === total) resolve(arrivals.get(seq)!);
        else waiting.set(seq, () => resolve(arrivals.get(seq)!));
      }),
    close: () => Promise.all(subscriptions.map((subscription) => subscription.close())),
  };
}

/** Accept each update at the holder closest to the key and time every subscriber's delivery, ms. */
async function timeDeliveries(holder: MyDhtNode, subscribers: Awaited<ReturnType<typeof subscribe>>, from: number, count: number) {
  const each: number[] = [];
  const last: number[] = [];
  for (let seq = from; seq < from + count; seq++) {
    const sent = performance.now();
    const arrived = subscribers.arrived(seq);
    await holder.local({ type: 'put', record: update(seq) } as { type: string });
    const times = (await arrived).map((at) => at - sent);
    each.push(...times);
    last.push(Math.max(...times));
  }
  return { each, last };
}

const listen: Suite = {
  name: 'listen',
  async *run() {
    const key = update(0).key;
    {
      const testnet = await createTestnet({ nodes: 20, transport: 'tcp', store: 'memory' });
      const raw = await openRawPush(1);
      try {
        const byDistance = [...testnet.nodes].sort((a, b) => compareDistance(key, a.identity.id, b.identity.id));
        const subscribers = await subscribe([byDistance.at(-1)!], 1, key);
        await timeDeliveries(byDistance[0]!, subscribers, 1, 20); // warm-up
        const { each } = await timeDeliveries(byDistance[0]!, subscribers, 21, UPDATES);
        const rawTimes: number[] = [];
        for (let i = 0; i < UPDATES; i++) rawTimes.push(...(await raw.push()));
        const baseline = 'one frame to one raw TCP client';
        const us = (ms: number): number => ms * 1000;
        yield { name: 'one-listener.p50', value: us(percentile(each, 50)), unit: 'us', baseline, baselineValue: us(percentile(rawTimes, 50)), better: 'lower' } satisfies Figure;
        yield { name: 'one-listener.p99', value: us(percentile(each, 99)), unit: 'us', baseline, baselineValue: us(percentile(rawTimes, 99)), better: 'lower' } satisfies Figure;
        await subscribers.close();
      } finally {
        await raw.close();
        await testnet.stop();
      }
    }
    {
      const testnet = await createTestnet({ nodes: 50, transport: 'tcp', store: 'memory' });
      const raw = await openRawPush(1_000);
      try {
        const holder = [...testnet.nodes].sort((a, b) => compareDistance(key, a.identity.id, b.identity.id))[0]!;
        const subscribers = await subscribe(testnet.nodes, 20, key);
        await timeDeliveries(holder, subscribers, 1, 3); // warm-up
        const { each, last } = await timeDeliveries(holder, subscribers, 4, FAN_UPDATES);
        const rawEach: number[] = [];
        const rawLast: number[] = [];
        for (let i = 0; i < FAN_UPDATES; i++) {
          const times = await raw.push();
          rawEach.push(...times);
          rawLast.push(Math.max(...times));
        }
        const baseline = 'one frame to 1,000 raw TCP clients';
        yield { name: 'fan-out-1000.each-p50', value: percentile(each, 50), unit: 'ms', baseline, baselineValue: percentile(rawEach, 50), better: 'lower' } satisfies Figure;
        yield { name: 'fan-out-1000.each-p99', value: percentile(each, 99), unit: 'ms', baseline, baselineValue: percentile(rawEach, 99), better: 'lower' } satisfies Figure;
        yield { name: 'fan-out-1000.last-p50', value: percentile(last, 50), unit: 'ms', baseline, baselineValue: percentile(rawLast, 50), better: 'lower' } satisfies Figure;
        await subscribers.close();
      } finally {
        await raw.close();
        await testnet.stop();
      }
    }
  },
};

export default listen;
