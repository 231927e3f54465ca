// Scenario 12: the recordings page's player goes on past its link's expiry. A link
// lives seconds, and the browser asks for more of the file as it plays and seeks; a
// request after the expiry is refused, as a bucket refuses it. The player then asks
// for a new link and carries on from where the host was; a file that is gone for
// good is said to be, without asking again and again.
//
// No roomgate here: a recording gets into its catalog only through Twilio's
// composition pipeline, which local mode doesn't run. A small server stands in for
// roomgate and the bucket instead, serving a page with the hooks the real one has
// (tests/api/recordings.rs checks those on roomgate's page), the real
// static/recordings.js, a link endpoint like roomgate's, and a WAV file with ranges
// and expiring links, as a bucket serves a recording.
'use strict';

const assert = require('node:assert/strict');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { test } = require('node:test');

const h = require('../lib/harness');

const SCENARIO = 'recordings-player';
const SCRIPT = fs.readFileSync(path.resolve(__dirname, '..', '..', 'static', 'recordings.js'));
const CSRF = 'csrf-token-for-the-test';
/** Each link's life here: short, so the test doesn't wait a minute. */
const LINK_MS = 3000;

/** `secs` of a 440 Hz tone, 8 kHz mono 16-bit PCM: 16 kB a second. */
function wav(secs) {
  const rate = 8000;
  const samples = rate * secs;
  const buf = Buffer.alloc(44 + samples * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + samples * 2, 4);
  buf.write('WAVE', 8);
  buf.write('fmt ', 12);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20); // PCM
  buf.writeUInt16LE(1, 22); // mono
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) {
    buf.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + i * 2);
  }
  return buf;
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="csrf-token" content="${CSRF}">
<meta name="room" content="standup">
<script src="/static/recordings.js" defer></script>
</head><body>
<table id="recordings"><tbody>
<tr data-id="rec1" data-label="Recording that ended today"><td>
<button type="button" data-action="play">Play</button>
<button type="button" data-action="download">Download</button>
</td></tr>
</tbody></table>
<div id="recordings-player" class="player" hidden>
  <video controls preload="metadata" playsinline></video>
  <button type="button" data-action="close">Close the player</button>
</div>
<p id="recordings-status" role="status" aria-live="polite" data-failed="The link could not be made." data-play-failed="The recording could not be played."></p>
</body></html>`;

/** The stand-in for roomgate and the bucket, with what it was asked. */
async function startServer() {
  const media = wav(20 * 60);
  const seen = { links: 0, refused: 0, ranges: [], gone: false, slowLinks: false };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (req.method === 'GET' && url.pathname === '/rooms/standup/recordings') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(PAGE);
    } else if (req.method === 'GET' && url.pathname === '/static/recordings.js') {
      res.writeHead(200, { 'Content-Type': 'application/javascript; charset=utf-8' });
      res.end(SCRIPT);
    } else if (req.method === 'POST' && url.pathname === '/rooms/standup/recordings/rec1/play') {
      if (req.headers['x-csrf-token'] !== CSRF) {
        res.writeHead(403);
        res.end();
        return;
      }
      seen.links += 1;
      const n = seen.links;
      setTimeout(
        () => {
          res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
          res.end(JSON.stringify({ url: `/media/rec1.wav?n=${n}&e=${Date.now() + LINK_MS}`, expires_in: 3 }));
        },
        seen.slowLinks ? 1500 : 0
      );
    } else if (req.method === 'GET' && url.pathname === '/media/rec1.wav') {
      if (seen.gone) {
        res.writeHead(404);
        res.end();
        return;
      }
      if (Date.now() > Number(url.searchParams.get('e'))) {
        seen.refused += 1;
        res.writeHead(403, { 'Content-Type': 'application/xml' });
        res.end('<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
        return;
      }
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range || '');
      const start = range ? Number(range[1]) : 0;
      const end = range && range[2] ? Math.min(Number(range[2]), media.length - 1) : media.length - 1;
      seen.ranges.push(start);
      res.writeHead(range ? 206 : 200, {
        'Content-Type': 'audio/wav',
        'Accept-Ranges': 'bytes',
        'Content-Length': end - start + 1,
        ...(range ? { 'Content-Range': `bytes ${start}-${end}/${media.length}` } : {}),
      });
      res.end(media.subarray(start, end + 1));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  const port = await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
  return {
    base: `http://127.0.0.1:${port}`,
    seen,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Seek the player to `t` seconds. */
const seek = (page, t) =>
  page.evaluate((t) => {
    document.querySelector('#recordings-player video').currentTime = t;
  }, t);

/** Wait until the player plays past `t` seconds, without an error. */
const playingPast = (page, t) =>
  page.waitForFunction(
    (t) => {
      const v = document.querySelector('#recordings-player video');
      return v.currentTime > t && !v.paused && !v.error;
    },
    t,
    { timeout: h.TIMEOUT }
  );

test('the player carries on past its link, leaves nothing behind, and gives up on a file that is gone', { timeout: 180_000 }, async () => {
  const server = await startServer();
  const browser = await h.launchBrowser();
  try {
    const page = await browser.newPage();
    await page.goto(server.base + '/rooms/standup/recordings');
    const status = page.locator('#recordings-status');
    await page.getByRole('button', { name: 'Play', exact: true }).click();

    // Plays on the page, named for its recording.
    const video = page.locator('#recordings-player video');
    await video.waitFor({ state: 'visible', timeout: h.TIMEOUT });
    assert.equal(await video.getAttribute('aria-label'), 'Recording that ended today');
    await playingPast(page, 0.3);
    assert.equal(server.seen.links, 1);

    // The link expires; the host then seeks far ahead, past what the browser holds:
    // that part of the file is asked for on the expired link and refused...
    await sleep(LINK_MS + 500);
    await seek(page, 1100);
    // ...and the player carries on from there, playing, on a new link.
    await playingPast(page, 1100.3);
    assert.ok(server.seen.refused >= 1, 'the expired link was refused');
    assert.equal(server.seen.links, 2);
    assert.equal(await status.textContent(), '');

    // Closed while it asks for a new link (a slow roomgate): the link that comes
    // afterwards is not played in the hidden player.
    server.seen.slowLinks = true;
    await sleep(LINK_MS + 500);
    const refused = server.seen.refused;
    await seek(page, 700);
    await page.waitForFunction(() => document.querySelector('#recordings-player video').error !== null, null, {
      timeout: h.TIMEOUT,
    });
    assert.ok(server.seen.refused > refused);
    await page.getByRole('button', { name: 'Close the player' }).click();
    await sleep(2500);
    assert.equal(server.seen.links, 3, 'the new link was asked for');
    assert.equal(await page.locator('#recordings-player').isHidden(), true);
    const closed = await page.evaluate(() => {
      const v = document.querySelector('#recordings-player video');
      return { paused: v.paused, src: v.getAttribute('src') };
    });
    assert.deepEqual(closed, { paused: true, src: null });

    // Played again: from the start, not from where the closed opening was.
    server.seen.slowLinks = false;
    await page.getByRole('button', { name: 'Play', exact: true }).click();
    await playingPast(page, 0.3);
    assert.ok((await page.evaluate(() => document.querySelector('#recordings-player video').currentTime)) < 60);
    assert.equal(server.seen.links, 4);

    // Gone for good (deleted meanwhile): one new link is tried, then the page says
    // so, and asks for no more.
    server.seen.gone = true;
    await sleep(LINK_MS + 500);
    await seek(page, 600);
    await page.waitForFunction(() => document.getElementById('recordings-status').textContent !== '', null, {
      timeout: h.TIMEOUT,
    });
    assert.match(await status.textContent(), /^The recording could not be played\. \(media \d\)$/);
    assert.equal(server.seen.links, 5);
    await sleep(LINK_MS + 1000);
    assert.equal(server.seen.links, 5, 'no more links asked for');

    // Back (restored): Play starts it from the start, not where the given-up opening
    // meant to resume.
    server.seen.gone = false;
    await page.getByRole('button', { name: 'Play', exact: true }).click();
    await playingPast(page, 0.3);
    await sleep(500);
    assert.ok((await page.evaluate(() => document.querySelector('#recordings-player video').currentTime)) < 60);
    assert.equal(await status.textContent(), '');

    await page.getByRole('button', { name: 'Close the player' }).click();
    assert.equal(await page.locator('#recordings-player').isHidden(), true);
  } finally {
    await browser.close().catch(() => {});
    await server.stop();
  }
});
