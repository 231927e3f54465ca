// Scenario 4: three failed verifications (five wrong codes each) lock the username;
// the next sign-in shows the lockout page saying when to try again.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');

const h = require('../lib/harness');

const SCENARIO = 'lockout';
const ROOM = 'standup';

// Default limits, except that three sign-ins in a row must be possible in a quick
// test: no resend cooldown, and room for a fourth start per user. (Per phone, the
// default 3 per 10 minutes is exactly enough.)
const ENV = {
  ROOMGATE_RESEND_COOLDOWN_SECS: '0',
  ROOMGATE_STARTS_PER_USER: '4',
  ROOMGATE_LOCKOUT_FAILURES: '3',
};

/**
 * Three sign-ins as `username`, each failed with five wrong codes; then a fourth
 * sign-in from a fresh cookie jar, which must show the lockout page.
 */
async function lockOut({ gate, browser }, username, screenshotName) {
  const known = username === 'alice';
  for (let round = 1; round <= 3; round++) {
    const { page, context } = await h.newPage(browser, gate);
    await page.goto(gate.url(`/rooms/${ROOM}`));
    const from = gate.mark();
    await h.submitUsername(page, gate, ROOM, username);
    // A known user's code, so the wrong ones are surely wrong; nobody's for an unknown name.
    const code = known ? await gate.waitForCode(username, from) : '';

    // Pages are rendered by the server: once loaded, what they say is final.
    for (let n = 1; n <= 5; n++) {
      await h.submitCode(page, h.wrongCode(code, n));
      const text = await h.visibleText(page);
      if (n < 5) {
        const left = 5 - n;
        assert.match(
          text,
          new RegExp(`That code is not right, or it was not sent to you\\. ${left} attempts? left\\.`),
          `round ${round}, wrong code ${n}`
        );
      } else if (round < 3) {
        assert.equal(await page.locator('h1').innerText(), 'Too many attempts', `round ${round}: ${text}`);
        assert.match(text, /That was the last attempt for this code\./);
      } else {
        // The third failure is the one that locks.
        assert.equal(await page.locator('h1').innerText(), 'Sign-in locked', `round ${round}: ${text}`);
      }
    }
    await context.close();
  }

  // The next sign-in, from a fresh cookie jar: the lockout page, and no code.
  const { page } = await h.newPage(browser, gate);
  await page.goto(gate.url(`/rooms/${ROOM}`));
  const from = gate.mark();
  const loginPost = page.waitForResponse(
    (r) => r.url() === gate.url(`/rooms/${ROOM}/login`) && r.request().method() === 'POST'
  );
  await page.locator('#username').fill(username);
  await page.getByRole('button', { name: 'Send me a code' }).click();
  const login = await loginPost;
  assert.equal(login.status(), 429);
  const retryAfter = Number(await login.headerValue('retry-after'));
  assert.ok(retryAfter > 800 && retryAfter <= 900, `Retry-After is about 15 minutes (${retryAfter})`);

  await page.getByRole('heading', { name: 'Sign-in locked' }).waitFor();
  assert.equal(
    (await page.getByRole('alert').innerText()).trim(),
    'After several failed sign-ins, signing in is locked for a while. Try again in about 15 minutes.'
  );
  assert.equal(await page.locator('#code').count(), 0, 'no code form');
  assert.equal(gate.codeLines().length, known ? 3 : 0, 'codes sent: one per round, none once locked');
  assert.ok(!gate.lines.slice(from).some((l) => l.includes('code=')), 'no code for the locked sign-in');
  await h.screenshot(page, screenshotName);
  return page;
}

test('three failed verifications lock a name; the next sign-in shows the lockout page', { timeout: 300_000 }, async () => {
  // Limits on a username apply whether or not anyone has it: an unknown name goes
  // through exactly the same steps, and the lock is on that name alone.
  await h.inWorld(SCENARIO, { env: ENV }, async (world) => {
    await lockOut(world, 'mallory', SCENARIO);

    const { gate, browser } = world;
    const { page } = await h.newPage(browser, gate);
    await page.goto(gate.url(`/rooms/${ROOM}`));
    const from = gate.mark();
    await h.submitUsername(page, gate, ROOM, 'alice');
    await page.getByRole('heading', { name: 'Enter your code' }).waitFor();
    await gate.waitForCode('alice', from);
  });
});

test(
  'three failed verifications lock a known user; the next sign-in shows the lockout page',
  { timeout: 300_000 },
  async () => {
    await h.inWorld(`${SCENARIO}.known-user`, { env: ENV }, async (world) => {
      await lockOut(world, 'alice', `${SCENARIO}.known-user`);
    });
  }
);
