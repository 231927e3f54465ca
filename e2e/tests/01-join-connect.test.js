// Scenario 1: join → code from roomgate's output → room page → token → the SDK's
// connect() is called with that very token and { name: room }.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');

const h = require('../lib/harness');

const SCENARIO = 'join-connect';
const ROOM = 'standup';

function jwtPayload(jwt) {
  const part = jwt.split('.')[1];
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

test('join, code from the output, room page, token, connect(token, { name: room })', { timeout: 180_000 }, async () => {
  await h.inWorld(SCENARIO, {}, async ({ gate, browser }) => {
    const { page } = await h.newPage(browser, gate);

    // The join form.
    await page.goto(gate.url(`/rooms/${ROOM}`));
    await page.getByRole('heading', { name: `Join ${ROOM}` }).waitFor();
    const from = gate.mark();
    await h.submitUsername(page, gate, ROOM, 'alice');
    await page.getByRole('heading', { name: 'Enter your code' }).waitFor();

    // The code, as a person reads it from roomgate's terminal.
    const code = await gate.waitForCode('alice', from);
    assert.match(code, /^\d{6}$/);

    // The room page fetches its token as soon as it loads: watch for it first.
    const tokenResponse = page.waitForResponse(
      (r) => r.url() === gate.url(`/rooms/${ROOM}/token`) && r.request().method() === 'POST',
      { timeout: h.TIMEOUT }
    );
    await h.submitCode(page, code);
    assert.equal(page.url(), gate.url(`/rooms/${ROOM}`));
    await page.getByRole('heading', { name: `Room ${ROOM}` }).waitFor();

    const response = await tokenResponse;
    assert.equal(response.status(), 200);
    const csrf = await page.locator('meta[name="csrf-token"]').getAttribute('content');
    assert.equal(await response.request().headerValue('x-csrf-token'), csrf, 'the token request carries the CSRF token');
    const fetched = await response.json();
    assert.equal(fetched.identity, 'alice');
    assert.equal(fetched.room, ROOM);
    assert.equal(typeof fetched.token, 'string');
    const claims = jwtPayload(fetched.token);
    assert.equal(claims.grants.identity, 'alice');
    assert.equal(claims.grants.video.room, ROOM);

    // connect() was called with exactly that token and the room's name.
    await page.waitForFunction(() => window.__e2eConnectCalls.length > 0, null, { timeout: h.TIMEOUT });
    const [call] = await page.evaluate(() => window.__e2eConnectCalls);
    assert.equal(call.token, fetched.token, 'connect() got the token the page fetched');
    assert.equal(call.name, ROOM, 'connect() got { name: room }');
    assert.ok(call.trackKinds.includes('video'), `the camera track is handed to connect(): ${call.trackKinds}`);

    // The camera preview shows the fake device, and local mode says so plainly.
    await h.waitForPlayingPreview(page);
    const banner = page.locator('#local-mode-banner');
    await banner.waitFor({ state: 'visible' });
    assert.match(await banner.innerText(), /^Local mode: no video service is configured/);

    // Twilio can't be reached from here: connect fails once, with no token retry.
    const state = await h.waitForState(page, ['error', 'connected']);
    assert.equal(state, 'error');
    assert.equal(await page.evaluate(() => window.__e2eConnectCalls.length), 1);

    // The token never leaks into the test hook or the page's text.
    const hook = await page.evaluate(() => JSON.stringify(window.roomgate));
    assert.ok(!hook.includes(fetched.token), 'window.roomgate never holds the token');
    assert.ok(!(await page.content()).includes(fetched.token), 'the token is not in the page');
    assert.deepEqual(page.pageErrors, []);

    await h.screenshot(page, SCENARIO);
  });
});
