// Scenario 5: sign out from the room page → back to the start; the room link shows
// the join form again; signing in again works.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');

const h = require('../lib/harness');

const SCENARIO = 'logout-and-back';
const ROOM = 'standup';

test('sign out, the room link shows the join form again, sign in again', { timeout: 180_000 }, async () => {
  await h.inWorld(SCENARIO, {}, async ({ gate, browser }) => {
    const { page } = await h.newPage(browser, gate);
    await h.signIn(page, gate, ROOM, 'alice');
    await h.waitForState(page, ['error', 'connected']);

    // Sign out: back to the start.
    await Promise.all([
      page.waitForURL(gate.url('/')),
      page.getByRole('button', { name: 'Sign out' }).click(),
    ]);
    await page.getByRole('heading', { name: 'Join a video room' }).waitFor();
    assert.equal(await page.getByText('Signed in as').count(), 0);

    // The old session is gone: no token for it.
    const token = await page.request.post(gate.url(`/rooms/${ROOM}/token`), { failOnStatusCode: false });
    assert.equal(token.status(), 401);

    await h.screenshot(page, `${SCENARIO}.signed-out`);

    // The room link, reached from the start page: the join form, not the room.
    await page.getByLabel('Room name').fill(ROOM);
    await Promise.all([
      page.waitForURL(gate.url(`/rooms/${ROOM}`)),
      page.getByRole('button', { name: 'Continue' }).click(),
    ]);
    await page.getByRole('heading', { name: `Join ${ROOM}` }).waitFor();
    await page.locator('#username').waitFor({ state: 'visible' });
    assert.equal(await page.locator('#local-preview').count(), 0);

    // Signing in again works, all the way to connect().
    const from = gate.mark();
    await h.submitUsername(page, gate, ROOM, 'alice');
    const code = await gate.waitForCode('alice', from);
    await h.submitCode(page, code);
    assert.equal(page.url(), gate.url(`/rooms/${ROOM}`));
    await page.getByText('Signed in as alice').waitFor();
    await page.waitForFunction(() => window.__e2eConnectCalls.length > 0, null, { timeout: h.TIMEOUT });
    const [call] = await page.evaluate(() => window.__e2eConnectCalls);
    assert.equal(call.name, ROOM);
    await h.waitForPlayingPreview(page);
    assert.equal(gate.codeLines().length, 2);

    await h.screenshot(page, SCENARIO);
  });
});
