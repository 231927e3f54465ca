// Scenario 7: languages. A French browser and a Japanese one get their language on
// the join, code and room pages (and the SMS: the local verifier's code line names
// the locale); the language menu switches the language and it stays switched across
// pages. The messages the room page's script shows come from a JSON data block,
// which the CSP (script-src 'self') must not object to.
'use strict';

const assert = require('node:assert/strict');
const { test } = require('node:test');

const h = require('../lib/harness');

const SCENARIO = 'languages';
const ROOM = 'standup';

/** Collects CSP violations the page reports, before any page script runs. */
function recordCspViolations() {
  const seen = [];
  Object.defineProperty(window, '__cspViolations', { value: seen });
  document.addEventListener('securitypolicyviolation', (e) => {
    seen.push(`${e.violatedDirective} ${e.blockedURI}`);
  });
}

/** A fresh context whose browser speaks `locale` (navigator.language, Accept-Language). */
async function pageIn(browser, gate, locale) {
  const context = await browser.newContext({
    locale,
    viewport: { width: 1100, height: 800 },
    permissions: ['camera', 'microphone'],
  });
  await context.grantPermissions(['camera', 'microphone'], { origin: gate.base });
  context.setDefaultTimeout(h.TIMEOUT);
  context.setDefaultNavigationTimeout(h.TIMEOUT);
  await context.addInitScript(recordCspViolations);
  const page = await context.newPage();
  page.pageErrors = [];
  page.consoleCsp = [];
  page.on('pageerror', (err) => page.pageErrors.push(String(err)));
  page.on('console', (msg) => {
    if (/Content Security Policy/i.test(msg.text())) page.consoleCsp.push(msg.text());
  });
  return { context, page };
}

async function htmlLang(page) {
  return page.evaluate(() => document.documentElement.lang);
}

async function assertNoCspViolation(page, where) {
  const violations = await page.evaluate(() => window.__cspViolations.slice());
  assert.deepEqual(violations, [], `CSP violations on ${where}`);
  assert.deepEqual(page.consoleCsp, [], `CSP console errors on ${where}`);
}

/**
 * Join form → code page → room page in the browser's language. `t` holds the texts
 * expected in that language.
 */
async function signInIn(page, gate, t) {
  // The keyboard's first stop is a link past the header, in the page's language.
  await page.goto(gate.url('/'));
  await page.keyboard.press('Tab');
  const first = await page.evaluate(() => [document.activeElement.textContent, document.activeElement.getAttribute('href')]);
  assert.deepEqual(first, [t.skip, '#main']);
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'main');

  await page.goto(gate.url(`/rooms/${ROOM}`));
  assert.equal(await htmlLang(page), t.lang);
  await page.getByRole('heading', { name: t.joinHeading }).waitFor();
  await page.getByLabel(t.usernameLabel).fill('alice');
  const from = gate.mark();
  await Promise.all([
    page.waitForURL(gate.url(`/rooms/${ROOM}/verify`)),
    page.getByRole('button', { name: t.sendCode }).click(),
  ]);
  assert.equal(await htmlLang(page), t.lang);
  await page.getByRole('heading', { name: t.codeHeading }).waitFor();
  assert.ok((await h.visibleText(page)).includes(t.codeSent), 'the generic "we sent you a code" line');
  // The resend countdown's texts for verify.js, with "{n}" for the seconds.
  const waiting = await page.locator('#resend-wait').getAttribute('data-waiting');
  assert.ok(waiting.includes('{n}') && waiting.includes(t.waitingWord), waiting);

  // The SMS is asked for in the same language: local mode prints the locale.
  const line = await gate.waitForLine((l) => /roomgate local verifier: user=alice code=\d+/.test(l), {
    from,
    what: 'code line for alice',
  });
  assert.match(line, new RegExp(` locale=${t.smsLocale} `), line);
  const code = /code=(\d+)/.exec(line)[1];

  await page.getByLabel(t.codeLabel).fill(code);
  await Promise.all([
    page.waitForURL(gate.url(`/rooms/${ROOM}`)),
    page.getByRole('button', { name: t.verify }).click(),
  ]);
  assert.equal(await htmlLang(page), t.lang);
  await page.getByRole('heading', { name: t.roomHeading }).waitFor();
  await page.locator('#local-preview').waitFor();
  const text = await h.visibleText(page);
  for (const s of t.roomTexts) assert.ok(text.includes(s), `${JSON.stringify(s)} not on the room page: ${text}`);
  // The room script's own messages: once it has given up on Twilio (unreachable
  // from here), what it says is in the page's language.
  const state = await h.waitForState(page, ['error', 'connected']);
  assert.equal(state, 'error');
  const error = await page.locator('#error-message').innerText();
  assert.ok(error.length > 0, 'the room script shows an error');
  assert.ok(t.looksRight(error), `the room script's error is not in ${t.lang}: ${error}`);
  const status = await page.locator('#status').innerText();
  assert.ok(t.looksRight(status), `the room script's status is not in ${t.lang}: ${status}`);
  // The microphone toggle's labels are the script's too.
  const mic = page.locator('#toggle-mic');
  assert.equal(await mic.innerText(), t.mute);
  await mic.click();
  await page.waitForFunction((label) => document.getElementById('toggle-mic').textContent === label, t.unmute);
  await mic.click();
  await page.waitForFunction((label) => document.getElementById('toggle-mic').textContent === label, t.mute);
  await assertNoCspViolation(page, `the ${t.lang} room page`);
  assert.deepEqual(page.pageErrors, []);
}

const FRENCH = {
  lang: 'fr',
  smsLocale: 'fr',
  joinHeading: `Rejoindre ${ROOM}`,
  skip: 'Aller au contenu',
  usernameLabel: 'Nom d’utilisateur',
  sendCode: 'M’envoyer un code',
  codeHeading: 'Saisissez votre code',
  codeSent: 'Si vous figurez sur la liste de cette salle, nous vous avons envoyé un code par SMS.',
  codeLabel: 'Code à usage unique',
  waitingWord: 'secondes',
  verify: 'Valider',
  roomHeading: `Salle ${ROOM}`,
  roomTexts: ['Connecté en tant que alice', 'Se déconnecter', 'alice (vous)', 'Mode local'],
  mute: 'Couper le micro',
  unmute: 'Réactiver le micro',
  // No English left: a few words the English messages are made of.
  looksRight: (s) => !/\b(the|could|not|is|video|room|try)\b/i.test(s),
};

const JAPANESE = {
  lang: 'ja',
  smsLocale: 'ja',
  joinHeading: `${ROOM} に参加`,
  skip: '本文へ移動',
  usernameLabel: 'ユーザー名',
  sendCode: 'コードを送信',
  codeHeading: 'コードを入力',
  codeSent: 'このルームの参加者リストに登録されている場合は、SMS でコードを送信しました。',
  codeLabel: 'ワンタイムコード',
  waitingWord: '秒後',
  verify: '確認',
  roomHeading: `ルーム ${ROOM}`,
  roomTexts: ['alice としてサインイン中', 'サインアウト', 'alice（あなた）', 'ローカルモード'],
  mute: 'マイクをミュート',
  unmute: 'マイクのミュートを解除',
  // Japanese text: mostly kana and kanji.
  looksRight: (s) => /[\u3040-\u30ff\u4e00-\u9fff]/.test(s) && !/\b(the|could|not|is)\b/i.test(s),
};

test('a French and a Japanese browser get their language; the menu switches and remembers', { timeout: 240_000 }, async () => {
  await h.inWorld(SCENARIO, {}, async ({ gate, browser }) => {
    // French.
    const fr = await pageIn(browser, gate, 'fr-FR');
    await signInIn(fr.page, gate, FRENCH);
    await h.screenshot(fr.page, `${SCENARIO}-fr`);
    await fr.context.close();

    // Japanese.
    const ja = await pageIn(browser, gate, 'ja-JP');
    await signInIn(ja.page, gate, JAPANESE);
    await h.screenshot(ja.page, `${SCENARIO}-ja`);

    // The language menu: every language, each in its own language, the current one
    // marked. Switch the (Japanese) room page to English.
    const page = ja.page;
    const menu = page.getByRole('navigation', { name: '言語' });
    const links = menu.getByRole('link');
    assert.deepEqual(await links.allInnerTexts(), ['English', 'Français', 'Español', 'Português (Brasil)', '日本語']);
    assert.equal(await menu.locator('a[aria-current]').innerText(), '日本語');
    assert.equal(await menu.getByRole('link', { name: 'Français' }).getAttribute('hreflang'), 'fr');
    await Promise.all([
      page.waitForURL(gate.url(`/rooms/${ROOM}`)),
      menu.getByRole('link', { name: 'English' }).click(),
    ]);
    assert.equal(await htmlLang(page), 'en');
    await page.getByRole('heading', { name: `Room ${ROOM}` }).waitFor();
    await page.getByRole('button', { name: 'Sign out' }).waitFor();
    assert.equal(
      await page.getByRole('navigation', { name: 'Language' }).locator('a[aria-current]').innerText(),
      'English'
    );

    // Remembered on other pages, though the browser still asks for Japanese.
    await page.goto(gate.url('/rooms/all-hands'));
    assert.equal(await htmlLang(page), 'en');
    await page.getByRole('heading', { name: 'Join all-hands' }).waitFor();
    await page.goto(gate.url('/'));
    await page.getByRole('heading', { name: 'Join a video room' }).waitFor();

    // And switched again, from the start page, to Spanish.
    await Promise.all([
      page.waitForURL(gate.url('/')),
      page.getByRole('navigation', { name: 'Language' }).getByRole('link', { name: 'Español' }).click(),
    ]);
    assert.equal(await htmlLang(page), 'es');
    await page.getByRole('heading', { name: 'Unirse a una sala de video' }).waitFor();
    await page.goto(gate.url(`/rooms/${ROOM}`));
    await page.getByRole('heading', { name: `Sala ${ROOM}` }).waitFor();
    const cookies = await ja.context.cookies(gate.base);
    const lang = cookies.find((c) => c.name === 'roomgate_lang');
    assert.ok(lang, 'the language cookie is set');
    assert.equal(lang.value, 'es');
    assert.equal(lang.sameSite, 'Lax');
    assert.equal(lang.path, '/');
    assert.ok(lang.expires * 1000 > Date.now() + 300 * 24 * 3600 * 1000, 'remembered for about a year');
    await assertNoCspViolation(page, 'the Spanish room page');
    assert.deepEqual(page.pageErrors, []);
    await h.screenshot(page, SCENARIO);
  });
});
