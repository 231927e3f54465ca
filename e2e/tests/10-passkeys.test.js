// Scenario 10: passkeys with Chromium's virtual authenticator (DevTools Protocol
// WebAuthn domain), against roomgate on http://localhost (browsers refuse WebAuthn on
// an IP address):
//   1. sign in by SMS (the local verifier's code) and register a passkey;
//   2. sign out, sign in with the passkey: a token, and no code sent;
//   3. remove the user from the ACL: the passkey no longer works;
//   4. restore the user with a new phone number: the passkey still doesn't work, until
//      a new SMS sign-in (after which a new passkey may be registered and used);
//   5. a host revokes it from the command line while roomgate runs: it no longer
//      signs in.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const { test } = require('node:test');

const h = require('../lib/harness');

const SCENARIO = 'passkeys';
const ROOM = 'standup';

const ACL_WITHOUT_ALICE = `[users.bob]
phone = "+447400123456"
rooms = ["*"]
`;

const ACL_ALICE_NEW_PHONE = `[users.alice]
phone = "+14155550199"
rooms = ["standup", "all-hands"]

[users.bob]
phone = "+447400123456"
rooms = ["*"]
`;

/** A platform authenticator that verifies the user and needs no touch. */
async function addVirtualAuthenticator(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: {
      protocol: 'ctap2',
      ctap2Version: 'ctap2_1',
      transport: 'internal',
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return { cdp, authenticatorId };
}

async function credentials({ cdp, authenticatorId }) {
  const { credentials: creds } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
  return creds;
}

/** Writes the ACL and waits until roomgate has reloaded it (its log says so). */
async function replaceAcl(gate, text) {
  const log = `${h.ARTIFACTS_DIR}/${SCENARIO}.roomgate.log`;
  const before = (fs.readFileSync(log, 'utf8').match(/ACL reloaded/g) || []).length;
  fs.writeFileSync(gate.aclPath, text);
  const deadline = Date.now() + h.TIMEOUT;
  while ((fs.readFileSync(log, 'utf8').match(/ACL reloaded/g) || []).length <= before) {
    assert.ok(Date.now() < deadline, 'roomgate reloaded the ACL');
    await new Promise((r) => setTimeout(r, 100));
  }
  // The reload's passkey sweep runs just after it.
  await new Promise((r) => setTimeout(r, 500));
}

async function signOut(page, gate) {
  await Promise.all([
    page.waitForURL(gate.url('/')),
    page.getByRole('button', { name: 'Sign out' }).click(),
  ]);
}

/** On the join form: "Use a passkey" for `username`; resolves on the next page. */
async function usePasskey(page, gate, username) {
  await page.goto(gate.url(`/rooms/${ROOM}`));
  await page.locator('#username').fill(username);
  const button = page.getByRole('button', { name: 'Use a passkey' });
  await button.waitFor({ state: 'visible' });
  // The script navigates once: to the room (signed in) or, falling back, to the
  // code page ("Send me a code" sent for the same name).
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), button.click()]);
}

async function registerPasskey(page, authenticator) {
  const offer = page.locator('#passkey-offer');
  await offer.waitFor({ state: 'visible' });
  await offer.getByRole('button', { name: 'Add a passkey' }).click();
  await page.getByText('Passkey added.').waitFor();
  await page.locator('#passkey-list li').first().waitFor();
  // Each Remove button is named for its own passkey, not just "Remove".
  const remove = page.getByRole('button', { name: /^Remove Passkey added on / });
  assert.equal(await remove.count(), await page.locator('#passkey-list li').count());
  const creds = await credentials(authenticator);
  assert.ok(creds.length >= 1, 'the authenticator holds the new credential');
  return creds;
}

async function tokenStatus(page, gate) {
  const meta = page.locator('meta[name="csrf-token"]');
  const csrf = (await meta.count()) ? await meta.getAttribute('content') : null;
  const resp = await page.request.post(gate.url(`/rooms/${ROOM}/token`), {
    failOnStatusCode: false,
    headers: csrf ? { 'X-CSRF-Token': csrf } : {},
  });
  return resp.status();
}

test('passkeys: register after SMS, sign in without a code, lost with the ACL entry or number, or revoked by a host', { timeout: 240_000 }, async () => {
  await h.inWorld(SCENARIO, { host: 'localhost' }, async ({ gate, browser }) => {
    assert.match(gate.base, /^http:\/\/localhost:\d+$/);
    // The start-up line says where passkeys work.
    await gate.waitForLine((l) => l.includes(`passkeys work at ${gate.base}`), { what: 'passkeys line' });
    const { context, page } = await h.newPage(browser, gate);
    const authenticator = await addVirtualAuthenticator(context, page);

    // 1. SMS sign-in, then the offer: register a passkey.
    await h.signIn(page, gate, ROOM, 'alice');
    const [registered] = await registerPasskey(page, authenticator);
    assert.equal(registered.rpId, 'localhost');
    await h.screenshot(page, `${SCENARIO}.registered`);

    // 2. Sign out; sign in with the passkey: no code, a token.
    await signOut(page, gate);
    const codesBefore = gate.codeLines().length;
    await usePasskey(page, gate, 'alice');
    assert.equal(new URL(page.url()).pathname, `/rooms/${ROOM}`);
    await page.getByText('Signed in as alice').waitFor();
    assert.equal(await tokenStatus(page, gate), 200);
    assert.equal(gate.codeLines().length, codesBefore, 'no code was sent');
    const [used] = await credentials(authenticator);
    assert.ok(used.signCount > registered.signCount, 'the authenticator signed');
    await h.screenshot(page, `${SCENARIO}.passkey-sign-in`);
    // Signed in with a passkey, another is added after a code, and the page says so.
    await page.getByText('To add another passkey, sign in with a code.').waitFor();
    assert.ok(await page.locator('#passkey-add-another').isHidden(), 'no "Add a passkey" here');

    // 3. Alice leaves the list: the passkey no longer signs in (the page falls back
    // to the code form, and no code goes to a name that isn't on the list).
    await signOut(page, gate);
    await replaceAcl(gate, ACL_WITHOUT_ALICE);
    await usePasskey(page, gate, 'alice');
    assert.equal(new URL(page.url()).pathname, `/rooms/${ROOM}/verify`, 'back to the code');
    assert.equal(await page.getByText('Signed in as alice').count(), 0);
    assert.equal(await tokenStatus(page, gate), 401);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(gate.codeLines().length, codesBefore, 'nothing sent to a name off the list');

    // 4. Back on the list with a new number: the passkey still doesn't work; the
    // fallback sends a code to the new number, and only that proves it.
    await replaceAcl(gate, ACL_ALICE_NEW_PHONE);
    const from = gate.mark();
    await usePasskey(page, gate, 'alice');
    assert.equal(new URL(page.url()).pathname, `/rooms/${ROOM}/verify`, 'the passkey was refused');
    assert.equal(await tokenStatus(page, gate), 401);
    const code = await gate.waitForCode('alice', from);
    await h.submitCode(page, code);
    assert.equal(page.url(), gate.url(`/rooms/${ROOM}`));
    await page.getByText('Signed in as alice').waitFor();
    // The old passkey is gone from the list; the offer is back, and a new one works.
    assert.equal(await page.locator('#passkey-list li').count(), 0);
    await registerPasskey(page, authenticator);
    await signOut(page, gate);
    const codesNow = gate.codeLines().length;
    await usePasskey(page, gate, 'alice');
    assert.equal(new URL(page.url()).pathname, `/rooms/${ROOM}`);
    assert.equal(await tokenStatus(page, gate), 200);
    assert.equal(gate.codeLines().length, codesNow, 'no code for the new passkey');

    // 5. The host revokes it with the CLI; roomgate, which holds the store, does it.
    await signOut(page, gate);
    const listed = gate.cli(['passkeys', 'list', 'alice']);
    assert.equal(listed.status, 0, listed.stderr);
    assert.match(listed.stdout, /^alice\t\S+\tadded .*\n1 passkey\(s\)\n$/);
    const revoked = gate.cli(['passkeys', 'revoke', 'alice']);
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.equal(revoked.stdout, '1 passkey(s) of alice revoked\n');
    await usePasskey(page, gate, 'alice');
    assert.equal(new URL(page.url()).pathname, `/rooms/${ROOM}/verify`, 'the revoked passkey was refused');
    assert.equal(await tokenStatus(page, gate), 401);
    assert.deepEqual(page.pageErrors, []);
    await h.screenshot(page, SCENARIO);
  });
});
