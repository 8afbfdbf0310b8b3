import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sinon from 'sinon';
import { createServiceSystem } from '../../src/assemble.ts';
import type { Logger } from '../../src/runtime/logger.ts';
import type { MyDhtError } from '../../src/runtime/errors.ts';
import { turns, until } from '../helpers/until.ts';
import { internedCount } from '../../src/runtime/shared-ref.ts';
import { defineService, serviceModule } from '../../src/runtime/service.ts';
import { SPAWNER_KINDS, type SpawnerKind } from '../../src/runtime/spawner.ts';
import type { ServiceSystem, ServiceSpec } from '../../src/runtime/system.ts';
import type { ComplianceConfig, ComplianceProtocol } from '../fixtures/compliance-service.ts';
import { TestPeer, TestPeerShared } from '../fixtures/peer.ts';
import type { RelayConfig, RelayProtocol } from '../fixtures/relay-service.ts';

const COMPLIANCE = serviceModule(import.meta.url, '../fixtures/compliance-service.ts');
const RELAY = serviceModule(import.meta.url, '../fixtures/relay-service.ts');

/** A same-loop service the test opens and closes: `hold` commands wait on it. */
function gateService() {
  let open!: () => void;
  let opened = new Promise<void>((resolve) => (open = resolve));
  let waiting = 0;
  const definition = defineService<{ wait: { command: object; reply: string } }>(() => ({
    concurrency: 1_000,
    handlers: {
      wait: async () => {
        waiting++;
        await opened;
        return 'released';
      },
    },
  }));
  return {
    definition,
    get waiting() {
      return waiting;
    },
    open: () => open(),
    close: () => {
      opened = new Promise<void>((resolve) => (open = resolve));
    },
  };
}

/** Sizes per spawner: same-loop runs seed 000's full sizes; threads and processes cost more each. */
const CHAIN: Record<SpawnerKind, { services: number; messages: number }> = {
  'same-loop': { services: 4000, messages: 200 },
  'worker-thread': { services: 4, messages: 200 },
  'child-process': { services: 3, messages: 200 },
};

for (const kind of SPAWNER_KINDS) {
  describe(`spawner compliance: ${kind}`, function () {
    this.timeout(60_000);
    let system: ServiceSystem;
    let gate: ReturnType<typeof gateService>;
    let dir: string;
    let log: Logger & { [K in 'warn' | 'info' | 'error']: sinon.SinonSpy };

    const spawnCompliance = (name: string, extra: Partial<ServiceSpec> = {}) =>
      system.spawn<ComplianceProtocol>({ name, module: COMPLIANCE, spawner: kind, ...extra });

    beforeEach(async () => {
      dir = mkdtempSync(join(tmpdir(), 'mydht-spawner-'));
      log = spyLogger();
      system = createServiceSystem({ log });
      gate = gateService();
      await system.spawn({ name: 'gate', module: COMPLIANCE, spawner: 'same-loop', definition: gate.definition }).ready;
    });

    afterEach(async () => {
      gate.open();
      await system.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('request/reply', async () => {
      const service = spawnCompliance('svc');
      await service.ready;
      assert.equal(await service.call({ type: 'echo', text: 'hello' }), 'hello');
      assert.equal(service.status().spawner, kind);
      assert.equal(service.status().state, 'running');
    });

    it('FIFO order of sends and calls', async () => {
      const service = spawnCompliance('svc');
      for (let i = 0; i < 1000; i++) await service.send({ type: 'append', value: i });
      const log = await service.call({ type: 'log' });
      assert.deepEqual(log, Array.from({ length: 1000 }, (_, i) => i));
    });

    it('calls queued among sends keep FIFO order, and each call gets its own reply', async () => {
      const service = spawnCompliance('svc');
      const replies: Promise<number>[] = [];
      const sends: Promise<void>[] = [];
      // Nothing is awaited until all 300 are queued: the queue holds sends and calls mixed.
      for (let i = 0; i < 300; i++) {
        if (i % 3 === 0) replies.push(service.call({ type: 'append', value: i }));
        else sends.push(service.send({ type: 'append', value: i }));
      }
      await Promise.all(sends);
      // append replies with the log's length once the value is in: i + 1 for the call of value i.
      assert.deepEqual(await Promise.all(replies), Array.from({ length: 100 }, (_, k) => 3 * k + 1));
      assert.deepEqual(await service.call({ type: 'log' }), Array.from({ length: 300 }, (_, i) => i));
    });

    it('a service with two command unions', async () => {
      const service = spawnCompliance('svc');
      assert.equal(await service.call({ type: 'echo', text: 'a' }), 'a');
      assert.equal(await service.call({ type: 'count' }), 1);
    });

    it('backpressure holds a bounded queue', async () => {
      const capacity = 8;
      const service = spawnCompliance('svc', { queueCapacity: capacity });
      await service.ready;
      const held = service.call({ type: 'hold' });
      await until(() => gate.waiting === 1);
      let accepted = 0;
      while (service.offer({ type: 'append', value: accepted })) accepted++;
      assert.ok(accepted <= capacity, `accepted ${accepted} commands beyond a queue of ${capacity}`);
      assert.ok(accepted >= capacity - 1, `a queue of ${capacity} took only ${accepted}`);
      let sentLate = false;
      const late = service.send({ type: 'append', value: accepted }).then(() => (sentLate = true));
      await turns(20);
      assert.equal(sentLate, false, 'a send into a full queue must wait');
      assert.ok(service.status().queued <= capacity);
      assert.equal(service.status().waiting, 1);
      gate.open();
      assert.equal(await held, 'released');
      await late;
      await system.settled();
      assert.equal((await service.call({ type: 'log' })).length, accepted + 1);
    });

    it('shared refs: identity on the same loop, equality and interning across a boundary', async () => {
      const service = spawnCompliance('svc');
      const peer = new TestPeer(`peer-${kind}`, ['/memory/a']);
      const echoed = await service.call({ type: 'echoPeer', peer });
      assert.ok(echoed instanceof TestPeer);
      if (kind === 'same-loop') assert.equal(echoed, peer, 'same loop passes the very object');
      else assert.equal(echoed, peer, 'a ref that went out comes back as the object it left as');
      assert.equal(await service.call({ type: 'samePeer', a: peer, b: peer }), true);
      await service.call({ type: 'rememberPeer', peer });
      const twin = new TestPeer(`peer-${kind}`, ['/memory/a']);
      assert.equal(await service.call({ type: 'isRemembered', peer }), true, 'two messages naming one peer give one object');
      if (kind !== 'same-loop') {
        assert.equal(await service.call({ type: 'isRemembered', peer: twin }), true, 'interned by id on the receiving side');
        assert.ok(internedCount(TestPeerShared) >= 1);
      } else {
        assert.equal(await service.call({ type: 'isRemembered', peer: twin }), false, 'same loop keeps identity as is');
      }
    });

    it('stop rejects pending calls', async () => {
      const service = spawnCompliance('svc');
      await service.ready;
      const held = service.call({ type: 'hold' });
      await until(() => gate.waiting === 1);
      const queued = [service.call({ type: 'echo', text: 'x' }), service.call({ type: 'echo', text: 'y' })];
      await service.stop();
      for (const call of queued) await assert.rejects(call, { code: 'ERR_SERVICE_STOPPED' });
      await assert.rejects(held, (err: { code?: string }) => ['ERR_ABORTED', 'ERR_SERVICE_STOPPED'].includes(err.code ?? ''));
      await assert.rejects(service.call({ type: 'echo', text: 'z' }), { code: 'ERR_SERVICE_STOPPED' });
      await assert.rejects(service.send({ type: 'echo', text: 'z' }), { code: 'ERR_SERVICE_STOPPED' });
      assert.equal(service.status().state, 'stopped');
    });

    it('a call honours its deadline and its AbortSignal', async () => {
      const service = spawnCompliance('svc');
      await service.ready;
      await assert.rejects(service.call({ type: 'hold' }, { timeout: 50 }), { code: 'ERR_CALL_TIMEOUT' });
      const controller = new AbortController();
      const aborted = service.call({ type: 'echo', text: 'never' }, { signal: controller.signal });
      controller.abort();
      await assert.rejects(aborted, { code: 'ERR_ABORTED' });
      gate.open();
      assert.equal(await service.call({ type: 'echo', text: 'still here' }), 'still here');
    });

    it('malformed messages get typed errors and the service keeps serving', async () => {
      const service = spawnCompliance('svc');
      await assert.rejects(service.call({ type: 'nope' } as never), { code: 'ERR_UNKNOWN_COMMAND' });
      await assert.rejects(service.call({ type: 'constructor' } as never), { code: 'ERR_UNKNOWN_COMMAND' });
      await assert.rejects(service.call({ type: '' } as never), { code: 'ERR_UNKNOWN_COMMAND' });
      await assert.rejects(service.call({ notype: 1 } as never), { code: 'ERR_MALFORMED_MESSAGE' });
      await assert.rejects(service.call(null as never), (err: { code?: string }) =>
        ['ERR_MALFORMED_MESSAGE', 'ERR_ENCODE'].includes(err.code ?? ''),
      );
      await assert.rejects(service.call({ type: 'fail', message: 'no', code: 'ERR_CUSTOM' }), { code: 'ERR_CUSTOM', message: /no/ });
      await assert.rejects(service.call({ type: 'fail', message: 'plain' }), { code: 'ERR_HANDLER' });
      if (kind !== 'same-loop') {
        const unencodable = { type: 'echo', text: 'x', fn: () => 1 } as never;
        await assert.rejects(service.call(unencodable), { code: 'ERR_ENCODE' });
        await assert.rejects(service.send(unencodable), { code: 'ERR_ENCODE' });
      }
      assert.equal(await service.call({ type: 'echo', text: 'alive' }), 'alive');
      await system.settled();
      assert.ok(service.status().failed >= 6);
    });

    it('settled() waits for everything dispatched, and what it caused', async () => {
      const first = spawnCompliance('first');
      const second = spawnCompliance('second');
      await Promise.all([first.ready, second.ready]);
      for (let i = 0; i < 300; i++) await first.send({ type: 'forward', to: 'second', text: String(i) });
      await system.settled();
      assert.equal(await second.call({ type: 'count' }), 300);
      assert.equal(second.status().queued, 0);
    });

    it('a start that throws is retried with backoff', async () => {
      const startCounter = join(dir, 'starts');
      const config: ComplianceConfig = { startCounter, failStarts: 2 };
      const service = spawnCompliance('svc', { config, restart: { backoffMs: 5 } });
      await service.ready;
      assert.equal(readFileSync(startCounter, 'utf8'), '3');
      assert.equal(service.status().restarts, 2);
      assert.equal(await service.call({ type: 'echo', text: 'up' }), 'up');
    });

    it('a start that always throws gives up with ERR_SERVICE_FAILED, caused by what it threw', async () => {
      const config: ComplianceConfig = { startCounter: join(dir, 'starts'), failStarts: 1_000 };
      const service = spawnCompliance('svc', { config, restart: { backoffMs: 1, maxRestarts: 2 } });
      await assert.rejects(service.ready, (err: MyDhtError) => {
        assert.equal(err.code, 'ERR_SERVICE_FAILED');
        assert.equal((err.cause as MyDhtError | undefined)?.code, 'ERR_ON_PURPOSE', 'the code of the last start error, across any boundary');
        assert.match(err.message, /start attempt 3 fails on purpose/);
        return true;
      });
      assert.equal(service.status().state, 'failed');
      await assert.rejects(service.call({ type: 'echo', text: 'x' }), (err: { code?: string }) =>
        ['ERR_SERVICE_FAILED', 'ERR_SERVICE_STOPPED'].includes(err.code ?? ''),
      );
    });

    it('logs reach the parent logger, tagged with the service name', async () => {
      const service = spawnCompliance('svc');
      await service.call({ type: 'shout', text: 'hello', stderr: kind !== 'same-loop' });
      await until(() => log.warn.calledWithMatch({ service: 'svc', text: 'hello' }, 'shouted'));
      if (kind !== 'same-loop') {
        // A worker's or child's own stderr is read line by line into the parent's log.
        await until(() => log.warn.calledWithMatch({ service: 'svc', stream: 'stderr' }, 'stderr says hello'));
      }
    });

    if (kind !== 'same-loop') {
      it(`crash and restart (${kind})`, async () => {
        const service = spawnCompliance('svc', { restart: { backoffMs: 5 } });
        await service.ready;
        // The crash fires on the host's next turn, while `hold` is in flight behind it.
        await service.send({ type: 'crash' });
        const inFlight = service.call({ type: 'hold' });
        await assert.rejects(inFlight, { code: 'ERR_SERVICE_RESTARTED' });
        // Sends and calls made while it restarts wait for it, then succeed.
        assert.equal(await service.call({ type: 'echo', text: 'back' }), 'back');
        assert.equal(service.status().restarts, 1);
        assert.equal(service.status().state, 'running');
        gate.open(); // the lost `hold` left a wait at the gate
        await system.settled();
      });
    }

    if (kind !== 'same-loop') {
      it('after a restart, what the new generation sends still reaches its peers', async () => {
        // `sink` is same-loop, one command deep, and held at the gate: forwards to it back up.
        const sink = system.spawn<ComplianceProtocol>({ name: 'sink', module: COMPLIANCE, spawner: 'same-loop', queueCapacity: 1 });
        const other = system.spawn<ComplianceProtocol>({ name: 'other', module: COMPLIANCE, spawner: 'same-loop' });
        const service = spawnCompliance('svc', { restart: { backoffMs: 5 } });
        await Promise.all([sink.ready, other.ready, service.ready]);
        const held = sink.call({ type: 'hold' });
        await until(() => gate.waiting === 1);
        for (let i = 0; i < 3; i++) await service.call({ type: 'forward', to: 'sink', text: String(i) });
        await service.send({ type: 'crash' });
        await until(() => service.status().restarts === 1 && service.status().state === 'running');
        await service.call({ type: 'forward', to: 'other', text: 'after' });
        gate.open();
        assert.equal(await held, 'released');
        await system.settled();
        assert.equal(await other.call({ type: 'count' }), 1);
      });
    }

    it(`daisy chain of ${CHAIN[kind].services} services x ${CHAIN[kind].messages} messages`, async () => {
      const { services, messages } = CHAIN[kind];
      const chain = [];
      for (let i = 0; i < services; i++) {
        const config: RelayConfig = i + 1 < services ? { next: `relay-${i + 1}` } : {};
        chain.push(system.spawn<RelayProtocol>({ name: `relay-${i}`, module: RELAY, spawner: kind, config }));
      }
      await Promise.all(chain.map((service) => service.ready));
      for (let token = 0; token < messages; token++) await chain[0]!.send({ type: 'hop', token });
      await system.settled();
      assert.equal(await chain.at(-1)!.call({ type: 'received' }), messages);
      assert.equal(await chain[0]!.call({ type: 'received' }), messages);
    });

    it(`fan-out / fan-in: 1 -> ${CHAIN[kind].services} -> 1`, async () => {
      const { services, messages } = CHAIN[kind];
      const sink = system.spawn<RelayProtocol>({ name: 'sink', module: RELAY, spawner: kind, queueCapacity: 64 });
      const fans = [];
      for (let i = 0; i < services; i++) {
        fans.push(system.spawn<RelayProtocol>({ name: `fan-${i}`, module: RELAY, spawner: kind, config: { next: 'sink' } }));
      }
      const source = system.spawn<RelayProtocol>({
        name: 'source',
        module: RELAY,
        spawner: kind,
        config: { targets: fans.map((fan) => fan.name) },
      });
      await Promise.all([sink.ready, source.ready, ...fans.map((fan) => fan.ready)]);
      for (let token = 0; token < messages; token++) await source.send({ type: 'broadcast', token });
      await system.settled();
      assert.equal(await sink.call({ type: 'received' }), services * messages);
    });
  });
}

/** A logger whose calls are sinon spies; a child's bindings are merged into the fields, as pino's are. */
function spyLogger(): Logger & { [K in 'warn' | 'info' | 'error']: sinon.SinonSpy } {
  const root = {
    trace: sinon.spy(),
    debug: sinon.spy(),
    info: sinon.spy(),
    warn: sinon.spy(),
    error: sinon.spy(),
    fatal: sinon.spy(),
    child: (bindings: Record<string, unknown>) => childOf(bindings),
  };
  const childOf = (bindings: Record<string, unknown>): Logger => {
    const at =
      (spy: sinon.SinonSpy) =>
      (fields: object | string, message?: string): void =>
        typeof fields === 'string' ? spy({ ...bindings }, fields) : spy({ ...bindings, ...fields }, message);
    return {
      trace: at(root.trace),
      debug: at(root.debug),
      info: at(root.info),
      warn: at(root.warn),
      error: at(root.error),
      fatal: at(root.fatal),
      child: (more) => childOf({ ...bindings, ...more }),
    };
  };
  return root;
}
