// Scenario 3: an unknown username sees exactly what a known one sees, and no code is
// printed for it.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');

const h = require('../lib/harness');

const SCENARIO = 'unknown-user';
const ROOM = 'standup';

/** Sign-in as `username` in a fresh context; what the participant sees at each step. */
async function attempt(browser, gate, username, wrong) {
  const { page } = await h.newPage(browser, gate);
  await page.goto(gate.url(`/rooms/${ROOM}`));
  const loginPost = page.waitForResponse(
    (r) => r.url() === gate.url(`/rooms/${ROOM}/login`) && r.request().method() === 'POST'
  );
  await h.submitUsername(page, gate, ROOM, username);
  const login = await loginPost;
  const codePage = {
    loginStatus: login.status(),
    location: await login.headerValue('location'),
    cookies: (await page.context().cookies()).map((c) => [c.name, c.path, c.httpOnly, c.sameSite, c.secure]),
    url: page.url(),
    title: await page.title(),
    text: await h.visibleText(page),
  };
  return { page, codePage, wrong };
}

async function afterWrongCode(page, gate, code) {
  const verifyPost = page.waitForResponse(
    (r) => r.url() === gate.url(`/rooms/${ROOM}/verify`) && r.request().method() === 'POST'
  );
  await h.submitCode(page, code);
  return {
    status: (await verifyPost).status(),
    url: page.url(),
    text: await h.visibleText(page),
  };
}

test('an unknown user sees exactly what a known one sees', { timeout: 180_000 }, async () => {
  await h.inWorld(SCENARIO, {}, async ({ gate, browser }) => {
    // The unknown name first: anything printed for it would come before alice's line.
    const from = gate.mark();
    const unknown = await attempt(browser, gate, 'mallory');
    const known = await attempt(browser, gate, 'alice');
    const aliceCode = await gate.waitForCode('alice', from);

    assert.equal(known.codePage.loginStatus, 303);
    assert.deepEqual(unknown.codePage, known.codePage, 'the code page is the same, word for word');
    assert.equal(known.codePage.url, gate.url(`/rooms/${ROOM}/verify`));
    assert.match(known.codePage.text, /If you are on the list for this room, we sent you a code by SMS\./);
    assert.doesNotMatch(known.codePage.text, /\+\d|\*{4}/, 'the code page shows no phone number');

    // alice's code was printed; nothing at all was printed for mallory.
    const users = gate.codeLines().map((c) => c.user);
    assert.deepEqual(users, ['alice']);
    assert.ok(!gate.lines.some((l) => l.includes('mallory')), 'roomgate printed nothing about mallory');

    await h.screenshot(known.page, `${SCENARIO}.known`);
    await h.screenshot(unknown.page, SCENARIO);

    // A wrong code reads the same for both, too.
    const wrong = h.wrongCode(aliceCode);
    const unknownAfter = await afterWrongCode(unknown.page, gate, wrong);
    const knownAfter = await afterWrongCode(known.page, gate, wrong);
    assert.equal(knownAfter.status, 422);
    assert.deepEqual(unknownAfter, knownAfter);
    assert.match(knownAfter.text, /4 attempts left\./);
  });
});
