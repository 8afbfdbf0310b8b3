import assert from 'node:assert/strict';
import { Mailbox } from '../../src/runtime/mailbox.ts';
import { PendingCall } from '../../src/runtime/reply.ts';
import type { Protocol, ServiceBody } from '../../src/runtime/service.ts';

/** A call straight into a mailbox, as a same-loop handle makes it. */
function call(mailbox: Mailbox, command: unknown): Promise<unknown> {
  const pending = new PendingCall(mailbox.name, 'test', 5_000, undefined);
  void mailbox.send(command, pending);
  return pending.promise;
}

describe('Mailbox', () => {
  it('routes each command to its own handler, whichever type comes first or alternates', async () => {
    const mailbox = new Mailbox('m', 16);
    const body = { handlers: { a: () => 'a', b: () => 'b', '': () => 'empty' } } as unknown as ServiceBody<Protocol>;
    mailbox.attach(body);
    const replies = await Promise.all(['b', 'b', '', 'a', 'b', 'a', ''].map((type) => call(mailbox, { type })));
    assert.deepEqual(replies, ['b', 'b', 'empty', 'a', 'b', 'a', 'empty']);
    await mailbox.close(false);
  });

  it('a service without handlers refuses every command, even one of type ""', async () => {
    const mailbox = new Mailbox('m', 16);
    mailbox.attach({ handlers: {} } as unknown as ServiceBody<Protocol>);
    await assert.rejects(call(mailbox, { type: '' }), { code: 'ERR_UNKNOWN_COMMAND' });
    await assert.rejects(call(mailbox, { type: 'x' }), { code: 'ERR_UNKNOWN_COMMAND' });
    await assert.rejects(call(mailbox, {}), { code: 'ERR_MALFORMED_MESSAGE' });
    assert.equal(mailbox.counters.failed, 3);
    await mailbox.close(false);
  });

  it('after a restart, the new handlers answer, not the last one of the old', async () => {
    const mailbox = new Mailbox('m', 16);
    mailbox.attach({ handlers: { a: () => 'old' } } as unknown as ServiceBody<Protocol>);
    assert.equal(await call(mailbox, { type: 'a' }), 'old');
    mailbox.attach({ handlers: { b: () => 'b', a: () => 'new' } } as unknown as ServiceBody<Protocol>);
    assert.equal(await call(mailbox, { type: 'a' }), 'new');
    await mailbox.close(false);
  });
});
