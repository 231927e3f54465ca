// Scenario 6: with *.twilio.com blocked, connect() fails and the room page shows its
// "could not be reached" error, with a working Retry; the preview keeps going.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');

const h = require('../lib/harness');

const SCENARIO = 'video-service-unreachable';
const ROOM = 'standup';
const UNREACHABLE = 'The video service could not be reached. Check your connection and retry.';

test('the room page says when the video service cannot be reached', { timeout: 180_000 }, async () => {
  await h.inWorld(SCENARIO, {}, async ({ gate, browser }) => {
    const { page } = await h.newPage(browser, gate);

    // Twilio is out of reach: HTTP(S) requests abort, WebSockets close at once.
    const blocked = [];
    await page.route(/^https?:\/\/([^/]+\.)?twilio\.com(:\d+)?\//, (route) => {
      blocked.push(route.request().url());
      return route.abort('internetdisconnected');
    });
    await page.routeWebSocket(/^wss?:\/\/([^/]+\.)?twilio\.com(:\d+)?\//, (ws) => {
      blocked.push(ws.url());
      ws.close();
    });

    await h.signIn(page, gate, ROOM, 'alice');
    assert.equal(await h.waitForState(page, ['error', 'connected']), 'error');
    assert.ok(blocked.some((u) => /^wss:\/\/[^/]+\.twilio\.com\//.test(u)), `signaling was attempted: ${blocked}`);

    const error = page.getByRole('alert');
    await error.waitFor({ state: 'visible' });
    assert.equal((await page.locator('#error-message').innerText()).trim(), UNREACHABLE);
    assert.equal((await page.locator('#status').innerText()).trim(), 'Not connected.');
    const retry = page.getByRole('button', { name: 'Retry' });
    await retry.waitFor({ state: 'visible' });
    assert.ok(await retry.isEnabled());
    const hook = await page.evaluate(() => window.roomgate);
    assert.equal(hook.state, 'error');
    assert.equal(hook.lastError.code, 53000);
    await h.waitForPlayingPreview(page);

    await h.screenshot(page, SCENARIO);

    // Retry: a fresh token, connect again, the same error again.
    const tokenAgain = page.waitForResponse(
      (r) => r.url() === gate.url(`/rooms/${ROOM}/token`) && r.request().method() === 'POST'
    );
    await retry.click();
    assert.equal((await tokenAgain).status(), 200);
    await page.waitForFunction(() => window.__e2eConnectCalls.length === 2, null, { timeout: h.TIMEOUT });
    await h.waitForState(page, ['error']);
    await page.locator('#error-message').getByText(UNREACHABLE).waitFor();
    const calls = await page.evaluate(() => window.__e2eConnectCalls);
    assert.ok(calls.every((c) => c.name === ROOM));
    await h.waitForPlayingPreview(page);
    assert.deepEqual(page.pageErrors, []);
  });
});
