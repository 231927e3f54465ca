// Scenario 2: a wrong code shows the error with the attempts left, in an aria-live
// region; the right code then gets in.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');

const h = require('../lib/harness');

const SCENARIO = 'wrong-then-right-code';
const ROOM = 'standup';

test('a wrong code is announced with the attempts left, then the right code gets in', { timeout: 180_000 }, async () => {
  await h.inWorld(SCENARIO, {}, async ({ gate, browser }) => {
    const { page } = await h.newPage(browser, gate);
    await page.goto(gate.url(`/rooms/${ROOM}`));
    const from = gate.mark();
    await h.submitUsername(page, gate, ROOM, 'alice');
    const code = await gate.waitForCode('alice', from);

    // A wrong code: the form again, with the error and the attempts left.
    const wrongPost = page.waitForResponse(
      (r) => r.url() === gate.url(`/rooms/${ROOM}/verify`) && r.request().method() === 'POST'
    );
    await h.submitCode(page, h.wrongCode(code));
    assert.equal((await wrongPost).status(), 422);
    assert.equal(page.url(), gate.url(`/rooms/${ROOM}/verify`));

    const error = page.locator('#code-error');
    await error.waitFor({ state: 'visible' });
    assert.equal(
      (await error.innerText()).trim(),
      'That code is not right, or it was not sent to you. 4 attempts left.'
    );
    // Announced: the error sits inside a live region…
    const live = page.locator('[aria-live]').filter({ has: page.locator('#code-error') });
    assert.equal(await live.count(), 1, 'the error is inside an aria-live region');
    assert.match(await live.getAttribute('aria-live'), /^(assertive|polite)$/);
    // …and is tied to the field it is about.
    const field = page.locator('#code');
    assert.equal(await field.getAttribute('aria-invalid'), 'true');
    assert.equal(await field.getAttribute('aria-describedby'), 'code-error code-sent');
    assert.equal(await page.getByRole('textbox', { name: 'One-time code' }).count(), 1);

    await h.screenshot(page, SCENARIO);

    // The right code now: the room page.
    await h.submitCode(page, code);
    assert.equal(page.url(), gate.url(`/rooms/${ROOM}`));
    await page.getByRole('heading', { name: `Room ${ROOM}` }).waitFor();
    await page.getByText('Signed in as alice').waitFor();
    await h.waitForPlayingPreview(page);
    assert.deepEqual(page.pageErrors, []);
  });
});
