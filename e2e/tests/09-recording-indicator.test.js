// Scenario 9: recording. The join page of a room that may be recorded says so before
// sign-in. In the room, the host's Start recording makes a "Recording" sign appear for
// another participant within 2 s, and Stop makes it go: through the twilio-video
// Room's recordingStarted / recordingStopped events, through roomgate's
// GET /rooms/{room}/recording when those events don't arrive, and from the Room's
// isRecording for someone joining a room already recording.
//
// The harness runs roomgate in local mode, with no Video API: the real Start is
// refused there (checked first), so where Twilio would take the recording rules the
// test answers the host's POST itself, as roomgate answers in Twilio mode, and plays
// Twilio's part for the other participant: the fake Room's events, or roomgate's
// answer to the page's poll.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');

const h = require('../lib/harness');

const SCENARIO = 'recording-indicator';
const ROOM = 'standup';
/** Within 2 s of Start, every participant sees the sign (the bound). */
const WITHIN_MS = 2_000;

// alice hosts standup, whose hosts may record it; all-hands is never recorded.
const ACL = h.ACL.replace(
  'rooms = ["standup", "all-hands"]\n',
  'rooms = ["standup", "all-hands"]\nrole = "host"\n'
) + '\n[rooms.standup]\nrecording = "host"\n';

async function joined(browser, gate, username, { recordingAtConnect = false, setup } = {}) {
  const { page, context } = await h.newPage(browser, gate);
  await context.addInitScript(h.installFakeRoom);
  if (recordingAtConnect) await context.addInitScript(() => { window.__e2eRecordingAtConnect = true; });
  if (setup) await setup(page);
  await h.signIn(page, gate, ROOM, username);
  await h.waitForState(page, ['connected']);
  return page;
}

/**
 * Clicks `button` and waits for the sign to be `state`, at most WITHIN_MS after the
 * recording's state changed (`changed()`: when Twilio's event went out, or roomgate's
 * answer to the poll changed): how long the sign took from that moment.
 */
async function clickAndSee(button, indicator, state, changed) {
  await button.click();
  // The bound is checked against `changed()`; this only keeps a lost sign from
  // waiting forever.
  await indicator.waitFor({ state, timeout: 2 * WITHIN_MS });
  return Date.now() - changed();
}

test('recording: Start shows "Recording" to everyone within 2 s, Stop takes it away', { timeout: 240_000 }, async () => {
  assert.ok(ACL.includes('role = "host"') && ACL.includes('[rooms.standup]'));
  await h.inWorld(SCENARIO, { acl: ACL }, async ({ gate, browser }) => {
    // Before anyone signs in, the join page says the room may be recorded; a room
    // that is never recorded says nothing.
    const { page: visitor } = await h.newPage(browser, gate);
    await visitor.goto(gate.url(`/rooms/${ROOM}`));
    await visitor.locator('#recording-notice').filter({ hasText: 'This room may be recorded.' }).waitFor();
    await visitor.goto(gate.url('/rooms/all-hands'));
    await visitor.locator('#username').waitFor();
    assert.equal(await visitor.locator('#recording-notice').count(), 0);

    // What roomgate tells bob's page when it asks (GET /rooms/standup/recording), and
    // how often it asked.
    let serverSays = false;
    let pollStatus = 200;
    let polls = 0;
    const bob = await joined(browser, gate, 'bob', {
      setup: (page) =>
        page.route(`**/rooms/${ROOM}/recording`, (route) => {
          polls += 1;
          return route.fulfill({
            status: pollStatus,
            contentType: 'application/json',
            headers: { 'Cache-Control': 'no-store' },
            body: JSON.stringify(pollStatus === 200 ? { recording: serverSays } : { error: 'not_verified' }),
          });
        }),
    });
    const sign = bob.locator('#recording-indicator');
    assert.ok(await sign.isHidden(), 'not recording yet');
    assert.equal(await bob.locator('#recording-start').count(), 0, 'a participant has no Start');

    const alice = await joined(browser, gate, 'alice');
    const start = alice.locator('#recording-start');
    const stop = alice.locator('#recording-stop');
    await start.waitFor();
    assert.ok(await stop.isHidden());

    // Local mode has no Video API: Start is refused, clearly, and nothing records.
    const [refused] = await Promise.all([
      alice.waitForResponse((r) => r.url().endsWith(`/rooms/${ROOM}/recording/start`)),
      start.click(),
    ]);
    assert.equal(refused.status(), 503);
    assert.equal((await refused.json()).error, 'no_video_service');
    await alice.locator('#host-status').filter({ hasText: 'No video service is configured' }).waitFor();
    assert.ok(await start.isVisible(), 'still not recording');
    await bob.waitForTimeout(WITHIN_MS);
    assert.ok(await sign.isHidden());

    // A refusal's `message` (English, for API clients) is never what a host reads: the
    // page's own words, in its language.
    await alice.route(
      `**/rooms/${ROOM}/recording/start`,
      (route) =>
        route.fulfill({
          status: 503,
          contentType: 'application/json',
          body: JSON.stringify({ error: 'store_unavailable', message: 'the server said this' }),
        }),
      { times: 1 }
    );
    await start.click();
    await alice.locator('#host-status').filter({ hasText: 'The service is busy. Please try again shortly.' }).waitFor();
    assert.ok(!(await alice.locator('#host-status').textContent()).includes('server said'));

    // From here Twilio takes the rules (see the top of this file).
    let viaEvents = true;
    let changedAt = 0;
    const changed = () => changedAt;
    await alice.route(`**/rooms/${ROOM}/recording/*`, async (route) => {
      const on = route.request().url().endsWith('/start');
      assert.equal(route.request().headers()['x-csrf-token'].length > 0, true, 'CSRF header sent');
      changedAt = Date.now();
      if (viaEvents) {
        await bob.evaluate((on) => window.__e2eRoom.emit(on ? 'recordingStarted' : 'recordingStopped'), on);
      } else {
        serverSays = on;
      }
      await route.fulfill({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({ recording: on }),
      });
    });

    // 1. The SDK's events.
    let took = await clickAndSee(start, sign, 'visible', changed);
    assert.match(await sign.textContent(), /Recording/);
    // Styled as a sign (a rule left open above it once dropped its background), and
    // told to screen readers once, politely.
    const background = await sign.evaluate((el) => getComputedStyle(el).backgroundColor);
    assert.equal(background, 'rgb(185, 28, 28)');
    await bob.locator('#announcer').filter({ hasText: 'Recording started.' }).waitFor();
    await stop.waitFor();
    assert.ok(await start.isHidden(), 'the host now sees Stop');
    // The button pressed went away: focus is on the one that took its place.
    assert.ok(await stop.evaluate((el) => el === document.activeElement), 'focus on Stop');
    await alice.locator('#recording-indicator').waitFor({ state: 'visible' });
    await h.screenshot(bob, SCENARIO);
    took = Math.max(took, await clickAndSee(stop, sign, 'hidden', changed));
    await start.waitFor();
    await bob.locator('#announcer').filter({ hasText: 'Recording stopped.' }).waitFor();

    // 2. No events arrive: roomgate's answer to the page's poll carries it.
    viaEvents = false;
    took = Math.max(took, await clickAndSee(start, sign, 'visible', changed));
    took = Math.max(took, await clickAndSee(stop, sign, 'hidden', changed));
    assert.ok(took <= WITHIN_MS, `took ${took} ms`);

    // 3. Joining a room that is already recording: the Room's isRecording.
    const carol = await joined(browser, gate, 'carol', { recordingAtConnect: true });
    await carol.locator('#recording-indicator').waitFor({ state: 'visible' });
    await carol.evaluate(() => window.__e2eRoom.emit('recordingStopped'));
    await carol.locator('#recording-indicator').waitFor({ state: 'hidden' });

    // 4. A sign-in that is over (401) stops the page asking: it asked every 1.5 s for
    // as long as the page stayed open.
    pollStatus = 401;
    const before = polls;
    await bob.waitForTimeout(2_000);
    const answered = polls;
    assert.ok(answered > before, 'the poll met the 401');
    await bob.waitForTimeout(4_500);
    assert.equal(polls, answered, 'asked again after its sign-in was over');

    for (const page of [bob, alice, carol]) assert.deepEqual(page.pageErrors, []);
  });
});
