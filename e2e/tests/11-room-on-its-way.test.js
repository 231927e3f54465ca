// Scenario 11: roomgate makes the room in the background while it hands out the token,
// so a connect can get to Twilio first. With client-side room creation off (as the
// README asks), Twilio answers 53106 (or 53103) then: the page tries again, and joins
// once the room is there. Another error is shown at once, as before.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');

const h = require('../lib/harness');

const SCENARIO = 'room-on-its-way';
const ROOM = 'standup';

/** Twilio refuses the first `n` connects with `code`, then the fake room answers. */
function refuseFirst(n, code) {
  return ({ n, code }) => {
    const fake = window.__e2eFakeRoom;
    let refused = 0;
    window.__e2eFakeRoom = (token, options) => {
      if (refused < n) {
        refused += 1;
        const err = new Error('Room not found');
        err.code = code;
        return Promise.reject(err);
      }
      return fake(token, options);
    };
  };
}

test('a room still being made is waited for; another error is not', { timeout: 180_000 }, async () => {
  await h.inWorld(SCENARIO, {}, async ({ gate, browser }) => {
    // The room turns up after two refusals: connected, on the third connect.
    {
      const { page, context } = await h.newPage(browser, gate);
      await context.addInitScript(h.installFakeRoom);
      await context.addInitScript(refuseFirst(2, 53106), { n: 2, code: 53106 });
      await h.signIn(page, gate, ROOM, 'alice');
      assert.equal(await h.waitForState(page, ['connected', 'error']), 'connected');
      assert.equal(await page.evaluate(() => window.__e2eConnectCalls.length), 3);
      assert.deepEqual(page.pageErrors, []);
      await context.close();
    }
    // A refusal that waiting can't mend (53105, too many participants): one connect,
    // and the error at once.
    {
      const { page, context } = await h.newPage(browser, gate);
      await context.addInitScript(h.installFakeRoom);
      await context.addInitScript(refuseFirst(1, 53105), { n: 1, code: 53105 });
      await h.signIn(page, gate, ROOM, 'bob');
      assert.equal(await h.waitForState(page, ['connected', 'error']), 'error');
      assert.equal(await page.evaluate(() => window.__e2eConnectCalls.length), 1);
      const hook = await page.evaluate(() => window.roomgate);
      assert.equal(hook.lastError.code, 53105);
      await context.close();
    }
  });
});
