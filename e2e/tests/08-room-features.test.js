// Scenario 8: the connected room, with a fake Room standing in for Twilio's servers:
// the participant grid reflows as people join and leave, the dominant speaker is
// highlighted, microphone and camera toggles show their state, reconnecting is
// shown, and being replaced by another sign-in of the same user (53205) is explained.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');

const h = require('../lib/harness');

const SCENARIO = 'room-features';
const ROOM = 'standup';

test('the room: grid, dominant speaker, toggles, reconnecting, replaced by another sign-in', { timeout: 180_000 }, async () => {
  await h.inWorld(SCENARIO, {}, async ({ gate, browser }) => {
    const { page, context } = await h.newPage(browser, gate);
    await context.addInitScript(h.installFakeRoom);
    await h.signIn(page, gate, ROOM, 'alice');
    await h.waitForState(page, ['connected']);
    await page.locator('#status').filter({ hasText: `Connected to ${ROOM}` }).waitFor();

    // connect() asked for dominant-speaker events.
    const [call] = await page.evaluate(() => window.__e2eConnectCalls);
    assert.ok(call.optionKeys.includes('dominantSpeaker'), `connect options: ${call.optionKeys}`);

    // People join: a tile each, named with textContent (so markup stays text).
    await page.evaluate(() => {
      const room = window.__e2eRoom;
      for (const [sid, name] of [['PA1', 'bob'], ['PA2', '<b>carol</b>']]) {
        const p = window.__e2eParticipant(sid, name);
        room.participants.set(sid, p);
        room.emit('participantConnected', p);
      }
    });
    const tiles = page.locator('#participants figure.tile');
    await tiles.nth(1).waitFor();
    // …and screen readers are told, in a polite log that is always in the page.
    await page.locator('#announcer').filter({ hasText: 'bob joined the room.' }).waitFor();
    assert.equal(await page.locator('#announcer').getAttribute('aria-live'), 'polite');
    assert.equal(await tiles.count(), 2);
    assert.deepEqual(await page.locator('#participants figcaption').allTextContents(), ['bob', '<b>carol</b>']);
    assert.equal(await page.locator('#participants b').count(), 0, 'names are text, not HTML');
    assert.ok(await page.locator('#waiting').isHidden());

    // The dominant speaker is highlighted, and the highlight moves.
    await page.evaluate(() => window.__e2eRoom.emit('dominantSpeakerChanged', window.__e2eRoom.participants.get('PA1')));
    await page.locator('figure.tile.speaking[data-identity="bob"]').waitFor();
    await page.evaluate(() => window.__e2eRoom.emit('dominantSpeakerChanged', window.__e2eRoom.participants.get('PA2')));
    await page.locator('figure.tile.speaking[data-identity="<b>carol</b>"]').waitFor();
    assert.equal(await page.locator('figure.tile.speaking').count(), 1);

    // Microphone and camera toggles show their state: the name says what pressing
    // does, the look that the device is off (no aria-pressed besides, which read as
    // the opposite of the name).
    const mic = page.locator('#toggle-mic');
    const camera = page.locator('#toggle-camera');
    await mic.waitFor();
    assert.equal(await mic.getAttribute('aria-pressed'), null);
    assert.equal((await mic.textContent()).trim(), 'Mute microphone');
    await mic.click();
    assert.equal((await mic.textContent()).trim(), 'Unmute microphone');
    assert.ok(await mic.evaluate((el) => el.classList.contains('is-off')));
    // Readable in both colour schemes (WCAG AA: 4.5:1); the dark one's was 1.07:1.
    for (const colorScheme of ['light', 'dark']) {
      await page.emulateMedia({ colorScheme });
      // Past the buttons' colour transition.
      await page.waitForTimeout(500);
      const ratio = await mic.evaluate((el) => {
        const rgb = (c) => c.match(/[\d.]+/g).slice(0, 3).map(Number);
        const lum = ([r, g, b]) => {
          const lin = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
          return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
        };
        const style = getComputedStyle(el);
        const [a, b] = [lum(rgb(style.color)), lum(rgb(style.backgroundColor))].sort((x, y) => y - x);
        return (a + 0.05) / (b + 0.05);
      });
      const seen = await mic.evaluate((el) => `${getComputedStyle(el).color} on ${getComputedStyle(el).backgroundColor}`);
      assert.ok(ratio >= 4.5, `${colorScheme}: the muted button's text at ${ratio.toFixed(2)}:1 (${seen})`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await camera.click();
    await page.locator('#local-preview.camera-off').waitFor();
    assert.equal((await camera.textContent()).trim(), 'Turn camera on');
    await camera.click();
    assert.equal((await camera.textContent()).trim(), 'Turn camera off');
    assert.equal(await page.locator('#local-preview.camera-off').count(), 0);

    // 320 px wide (a phone, or 400 % zoom): nothing runs off the side.
    await page.setViewportSize({ width: 320, height: 640 });
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `scrolls sideways by ${overflow} px at 320 px`);
    await page.setViewportSize({ width: 1280, height: 720 });

    // Network loss and recovery.
    await page.evaluate(() => window.__e2eRoom.emit('reconnecting', { code: 53001 }));
    await page.locator('#status').filter({ hasText: 'Reconnecting' }).waitFor();
    await page.evaluate(() => window.__e2eRoom.emit('reconnected'));
    await page.locator('#status').filter({ hasText: `Connected to ${ROOM}` }).waitFor();

    // Someone leaves: the grid reflows.
    await page.evaluate(() => {
      const room = window.__e2eRoom;
      const p = room.participants.get('PA1');
      room.participants.delete('PA1');
      room.emit('participantDisconnected', p);
    });
    await page.locator('figure.tile[data-identity="bob"]').waitFor({ state: 'detached' });
    assert.equal(await tiles.count(), 1);
    await page.locator('#announcer').filter({ hasText: 'bob left the room.' }).waitFor();
    await h.screenshot(page, SCENARIO);

    // The same user signed in elsewhere: this page says why it was disconnected.
    await page.evaluate(() => window.__e2eRoom.emit('disconnected', window.__e2eRoom, { code: 53205, message: 'duplicate identity' }));
    await page.locator('#error').filter({ hasText: 'from another tab or device' }).waitFor();
    assert.equal(await tiles.count(), 0);
    // Not a dead end: a way back to the start.
    await page.locator('#error-home a[href="/"]').filter({ hasText: 'Back to the start' }).waitFor();
    await h.screenshot(page, `${SCENARIO}.replaced`);
  });
});
