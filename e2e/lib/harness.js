// The e2e harness: the real roomgate binary in local mode, a tiny static server for
// the twilio-video SDK, and headless Chromium driven through playwright-core.
//
// Nothing is built here: scripts/test runs `cargo build` first, and this file
// only starts target/debug/roomgate (or $ROOMGATE_BIN).
'use strict';

const assert = require('node:assert/strict');
const { spawn, spawnSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');

const { chromium } = require('playwright-core');

const E2E_DIR = path.resolve(__dirname, '..');
const REPO_DIR = path.resolve(E2E_DIR, '..');
const ARTIFACTS_DIR = path.join(REPO_DIR, 'target', 'e2e');
const ROOMGATE_BIN = process.env.ROOMGATE_BIN || path.join(REPO_DIR, 'target', 'debug', 'roomgate');
const CHROMIUM_PATH = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SDK_FILE = path.join(E2E_DIR, 'node_modules', 'twilio-video', 'dist', 'twilio-video.min.js');

/** One generous bound for every wait: a 2-core CI box can be slow. */
const TIMEOUT = 30_000;

/** The ACL every scenario uses. Phones are valid numbers nobody is texted at. */
const ACL = `# roomgate e2e ACL
[users.alice]
phone = "+14155550101"
rooms = ["standup", "all-hands"]

[users.bob]
phone = "+447400123456"
rooms = ["*"]

[users.carol]
phone = "+61412345678"
rooms = ["design-review", "standup"]
`;

/**
 * Raised limits for scenarios that aren't about limits: several sign-ins per user in
 * one test, no resend cooldown. The lockout scenario passes its own env instead.
 */
const RELAXED_LIMITS = {
  ROOMGATE_STARTS_PER_USER: '50',
  ROOMGATE_STARTS_PER_PHONE: '50',
  ROOMGATE_RESEND_COOLDOWN_SECS: '0',
  ROOMGATE_LOGINS_PER_IP_PER_MINUTE: '200',
  ROOMGATE_CHECKS_PER_IP_PER_MINUTE: '200',
  ROOMGATE_TOKENS_PER_IP_PER_MINUTE: '200',
};

fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });

// Every roomgate this process started and hasn't stopped: killed if the test process
// ends early (a timeout, Ctrl-C), so none is left listening.
const liveChildren = new Set();
process.on('exit', () => {
  for (const child of liveChildren) child.kill('SIGKILL');
});

// ---- Small helpers -----------------------------------------------------------

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

// ---- The SDK server ------------------------------------------------------------

/**
 * Serves node_modules/twilio-video/dist/twilio-video.min.js on its own loopback port,
 * standing in for Twilio's CDN (ROOMGATE_VIDEO_SDK_URL points here).
 */
async function startSdkServer() {
  assert.ok(fs.existsSync(SDK_FILE), `${SDK_FILE} is missing: run npm ci in e2e/`);
  const body = fs.readFileSync(SDK_FILE);
  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && req.url.split('?')[0] === '/twilio-video.min.js') {
      res.writeHead(200, {
        'Content-Type': 'application/javascript; charset=utf-8',
        'Content-Length': body.length,
        'Cache-Control': 'no-store',
      });
      res.end(body);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found');
    }
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}/twilio-video.min.js`,
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---- roomgate --------------------------------------------------------------------

const CODE_LINE = /roomgate local verifier: user=(\S+) code=(\d+)/;

/**
 * The real binary in local mode. Reads its stdout for the `listening on` line and
 * the local verifier's code lines; its stderr (logs) goes to target/e2e/<name>.log.
 */
class Roomgate {
  constructor(name) {
    this.name = name;
    this.lines = [];
    this.waiters = [];
    this.exited = null;
  }

  /**
   * `host` is what the browser and ROOMGATE_PUBLIC_URL use: 127.0.0.1 by default,
   * `localhost` for passkeys (browsers refuse WebAuthn on an IP address).
   */
  async start({ env = {}, sdkUrl, acl = ACL, host = '127.0.0.1' }) {
    assert.ok(fs.existsSync(ROOMGATE_BIN), `${ROOMGATE_BIN} is missing: run cargo build first`);
    // An empty working directory: a developer's .env can't switch on Twilio mode.
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'roomgate-e2e-'));
    this.aclPath = path.join(this.dir, 'acl.toml');
    fs.writeFileSync(this.aclPath, acl);

    // Another process may take the free port between probe and bind: try again then.
    let lastError;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      try {
        await this.spawnOn(port, env, sdkUrl, host);
        return this;
      } catch (err) {
        lastError = err;
        await this.stopProcess();
      }
    }
    throw lastError;
  }

  async spawnOn(port, extraEnv, sdkUrl, host) {
    this.lines = [];
    this.exited = null;
    const base = `http://${host}:${port}`;
    const childEnv = {};
    for (const [key, value] of Object.entries(process.env)) {
      // Local mode, and only the settings this harness chooses.
      if (key.startsWith('TWILIO_') || key.startsWith('ROOMGATE_') || key === 'RUST_LOG') continue;
      childEnv[key] = value;
    }
    Object.assign(childEnv, {
      RUST_LOG: 'info',
      // Local mode's admin listener defaults to port 9090: a roomgate someone is
      // running by hand (the README's first command) would hold it.
      ROOMGATE_ADMIN_ADDR: '127.0.0.1:0',
      ROOMGATE_PUBLIC_URL: base,
      ROOMGATE_VIDEO_SDK_URL: sdkUrl,
      ...extraEnv,
    });
    this.env = childEnv;
    const logPath = path.join(ARTIFACTS_DIR, `${this.name}.roomgate.log`);
    const log = fs.openSync(logPath, 'w');
    this.child = spawn(ROOMGATE_BIN, ['serve', '--addr', `127.0.0.1:${port}`, '--acl', this.aclPath], {
      cwd: this.dir,
      env: childEnv,
      stdio: ['ignore', 'pipe', log],
    });
    fs.closeSync(log);
    const child = this.child;
    liveChildren.add(child);
    child.on('exit', (code, signal) => {
      liveChildren.delete(child);
      this.exited = { code, signal };
      this.notify();
    });
    readline.createInterface({ input: this.child.stdout }).on('line', (line) => {
      this.lines.push(line);
      this.notify();
    });
    const listening = await this.waitForLine((l) => l.includes('listening on '), {
      what: '"listening on" line',
    });
    const printed = listening.split('listening on ')[1].split(/\s/)[0];
    assert.equal(printed, `http://127.0.0.1:${port}`, 'roomgate listens where it was told to');
    this.base = base;
  }

  notify() {
    for (const waiter of [...this.waiters]) waiter();
  }

  /**
   * Resolves with the first stdout line from index `from` on that matches; rejects
   * when roomgate exits or after `timeout` ms.
   */
  waitForLine(match, { from = 0, timeout = TIMEOUT, what = 'line' } = {}) {
    return new Promise((resolve, reject) => {
      const check = () => {
        for (let i = from; i < this.lines.length; i++) {
          if (match(this.lines[i])) return finish(null, this.lines[i]);
        }
        if (this.exited) {
          finish(new Error(`roomgate exited (${JSON.stringify(this.exited)}) before printing a ${what}; see target/e2e/${this.name}.roomgate.log`));
        }
        return undefined;
      };
      const timer = setTimeout(() => finish(new Error(`no ${what} from roomgate within ${timeout} ms`)), timeout);
      const finish = (err, line) => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        if (err) reject(err);
        else resolve(line);
      };
      this.waiters.push(check);
      check();
    });
  }

  /** Where the next line will be: pass as `from` to wait only for later lines. */
  mark() {
    return this.lines.length;
  }

  /** Every code line printed so far, as {user, code}. */
  codeLines() {
    return this.lines
      .map((l) => CODE_LINE.exec(l))
      .filter(Boolean)
      .map((m) => ({ user: m[1], code: m[2] }));
  }

  /** The code printed for `user` at or after line `from`. */
  async waitForCode(user, from = 0) {
    const line = await this.waitForLine((l) => {
      const m = CODE_LINE.exec(l);
      return m && m[1] === user;
    }, { from, what: `code line for user=${user}` });
    return CODE_LINE.exec(line)[2];
  }

  url(p) {
    return this.base + p;
  }

  /**
   * A `roomgate` command as a host runs it beside this server: the same directory
   * (so the same data directory, list and audit log) and environment.
   */
  cli(args) {
    const run = spawnSync(ROOMGATE_BIN, args, { cwd: this.dir, env: this.env, encoding: 'utf8', timeout: TIMEOUT });
    return { status: run.status, stdout: run.stdout, stderr: run.stderr };
  }

  async stop() {
    await this.stopProcess();
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = null;
  }

  async stopProcess() {
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await gone;
      clearTimeout(timer);
    }
  }
}

// ---- Chromium ---------------------------------------------------------------------

const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  // Nothing leaves the machine: every host name but loopback fails to resolve, so
  // the SDK's signaling to *.twilio.com fails fast and deterministically.
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
];

async function launchBrowser() {
  assert.ok(
    fs.existsSync(CHROMIUM_PATH),
    `${CHROMIUM_PATH} is missing: install Debian's chromium (scripts/test does)`
  );
  // Playwright gives each launch a fresh, temporary --user-data-dir.
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60_000,
  });
}

/**
 * Records the arguments of every `Twilio.Video.connect` call on
 * `window.__e2eConnectCalls` and then calls through. Runs before any page script:
 * `window.Twilio` gets a setter, so when the SDK (`root.Twilio = root.Twilio || {};
 * Twilio.Video = Twilio.Video || Video`) installs itself, its `connect` is wrapped.
 */
function recordConnectCalls() {
  const calls = [];
  Object.defineProperty(window, '__e2eConnectCalls', { value: calls });
  const wrapVideo = (video) => {
    if (!video || typeof video.connect !== 'function' || video.__e2eWrapped) return video;
    const original = video.connect;
    video.connect = function connect(token, options) {
      const opts = options || {};
      calls.push({
        token: token,
        name: opts.name,
        trackKinds: Array.isArray(opts.tracks) ? opts.tracks.map((t) => t && t.kind) : null,
        optionKeys: Object.keys(opts).sort(),
      });
      // A scenario may stand in for Twilio's servers (unreachable from CI) with a
      // fake Room, to drive what the page does once connected.
      if (typeof window.__e2eFakeRoom === 'function') {
        return Promise.resolve(window.__e2eFakeRoom(token, opts));
      }
      return original.apply(this, arguments);
    };
    Object.defineProperty(video, '__e2eWrapped', { value: true });
    return video;
  };
  let twilio;
  Object.defineProperty(window, 'Twilio', {
    configurable: true,
    enumerable: true,
    get: () => twilio,
    set: (value) => {
      twilio = value;
      if (!value || typeof value !== 'object') return;
      let video = wrapVideo(value.Video);
      Object.defineProperty(value, 'Video', {
        configurable: true,
        enumerable: true,
        get: () => video,
        set: (v) => {
          video = wrapVideo(v);
        },
      });
    },
  });
}

/**
 * Runs in the page before its scripts (`context.addInitScript(installFakeRoom)`): a
 * minimal Room and Participant with events, standing in for Twilio's servers, which
 * CI can't reach. The Room is `window.__e2eRoom`; `window.__e2eParticipant(sid,
 * identity)` makes a participant. A Room starts recording (`isRecording`) when
 * `window.__e2eRecordingAtConnect` is set.
 */
function installFakeRoom() {
  function emitter(target) {
    const handlers = {};
    target.on = (name, fn) => {
      (handlers[name] = handlers[name] || []).push({ fn, once: false });
      return target;
    };
    target.once = (name, fn) => {
      (handlers[name] = handlers[name] || []).push({ fn, once: true });
      return target;
    };
    target.removeAllListeners = (name) => {
      if (name) delete handlers[name];
      return target;
    };
    target.emit = (name, ...args) => {
      const list = handlers[name] || [];
      handlers[name] = list.filter((h) => !h.once);
      list.forEach((h) => h.fn(...args));
    };
    return target;
  }
  window.__e2eParticipant = (sid, identity) =>
    emitter({ sid, identity, tracks: new Map() });
  window.__e2eFakeRoom = (token, options) => {
    const room = emitter({
      sid: 'RM00000000000000000000000000000000',
      name: options.name,
      participants: new Map(),
      localParticipant: { identity: 'alice' },
      isRecording: window.__e2eRecordingAtConnect === true,
    });
    room.disconnect = () => room.emit('disconnected', room, null);
    window.__e2eRoom = room;
    return room;
  };
}

/**
 * A fresh browser context (its own cookies) and page, with the camera allowed and
 * `connect` recorded. Page errors and console errors are collected for diagnostics.
 */
async function newPage(browser, gate) {
  const context = await browser.newContext({
    viewport: { width: 1100, height: 800 },
    permissions: ['camera', 'microphone'],
  });
  await context.grantPermissions(['camera', 'microphone'], { origin: gate.base });
  context.setDefaultTimeout(TIMEOUT);
  context.setDefaultNavigationTimeout(TIMEOUT);
  await context.addInitScript(recordConnectCalls);
  const page = await context.newPage();
  page.pageErrors = [];
  page.on('pageerror', (err) => page.pageErrors.push(String(err)));
  return { context, page };
}

async function screenshot(page, scenario) {
  const file = path.join(ARTIFACTS_DIR, `${scenario}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

// ---- A scenario's world ------------------------------------------------------------

/**
 * Starts the SDK server, roomgate and Chromium for one scenario; `close()` stops
 * them all (call it from `after`/`finally`).
 */
async function startWorld(scenario, { env = RELAXED_LIMITS, acl = ACL, host } = {}) {
  const world = { scenario, sdk: null, gate: null, browser: null };
  world.close = async () => {
    if (world.browser) await world.browser.close().catch(() => {});
    if (world.gate) await world.gate.stop();
    if (world.sdk) await world.sdk.stop();
  };
  try {
    world.sdk = await startSdkServer();
    world.gate = await new Roomgate(scenario).start({ env, sdkUrl: world.sdk.url, acl, host });
    world.browser = await launchBrowser();
  } catch (err) {
    await world.close();
    throw err;
  }
  return world;
}

/**
 * Runs `body(world)` in a fresh world and always closes it. On failure, every open
 * page is saved as target/e2e/<scenario>.failure-<n>.png for diagnosis.
 */
async function inWorld(scenario, options, body) {
  const world = await startWorld(scenario, options);
  try {
    await body(world);
  } catch (err) {
    let n = 0;
    for (const context of world.browser.contexts()) {
      for (const page of context.pages()) {
        n += 1;
        await page
          .screenshot({ path: path.join(ARTIFACTS_DIR, `${scenario}.failure-${n}.png`), fullPage: true })
          .catch(() => {});
      }
    }
    const lines = world.gate.lines.join('\n');
    err.message += `\n(roomgate stdout:\n${lines}\n)`;
    throw err;
  } finally {
    await world.close();
  }
}

// ---- Page steps shared by scenarios ---------------------------------------------------

/** On the join form: type the username and send it; lands on the code page. */
async function submitUsername(page, gate, room, username) {
  await page.locator('#username').fill(username);
  await Promise.all([
    page.waitForURL(gate.url(`/rooms/${room}/verify`)),
    page.getByRole('button', { name: 'Send me a code' }).click(),
  ]);
}

/** On the code page: type a code and send it; resolves once the next page loaded. */
async function submitCode(page, code) {
  await page.locator('#code').fill(code);
  await Promise.all([
    page.waitForNavigation({ waitUntil: 'load' }),
    page.getByRole('button', { name: 'Verify' }).click(),
  ]);
}

/** A code of the right shape that isn't `code`. */
function wrongCode(code, n = 0) {
  for (let i = n; ; i++) {
    const candidate = String((i * 111111) % 1000000).padStart(6, '0');
    if (candidate !== code) return candidate;
  }
}

/** Join form → code from roomgate's output → room page. Returns the code used. */
async function signIn(page, gate, room, username) {
  await page.goto(gate.url(`/rooms/${room}`));
  const from = gate.mark();
  await submitUsername(page, gate, room, username);
  const code = await gate.waitForCode(username, from);
  await submitCode(page, code);
  assert.equal(page.url(), gate.url(`/rooms/${room}`));
  await page.locator('#local-preview').waitFor();
  return code;
}

/** Waits until the room page's `window.roomgate.state` is one of `states`. */
async function waitForState(page, states) {
  const wanted = Array.isArray(states) ? states : [states];
  await page.waitForFunction(
    (w) => window.roomgate && w.includes(window.roomgate.state),
    wanted,
    { timeout: TIMEOUT }
  );
  return page.evaluate(() => window.roomgate.state);
}

/** The local preview shows the fake camera: a <video> that is playing frames. */
async function waitForPlayingPreview(page) {
  await page.waitForFunction(
    () => {
      const v = document.querySelector('#local-preview video');
      return (
        v &&
        !v.paused &&
        v.readyState >= 2 &&
        v.videoWidth > 0 &&
        v.srcObject &&
        v.srcObject.getVideoTracks().some((t) => t.readyState === 'live')
      );
    },
    null,
    { timeout: TIMEOUT }
  );
  // Frames keep coming: currentTime moves on.
  const t0 = await page.evaluate(() => document.querySelector('#local-preview video').currentTime);
  await page.waitForFunction(
    (start) => document.querySelector('#local-preview video').currentTime > start,
    t0,
    { timeout: TIMEOUT }
  );
}

/** The page's visible text, whitespace collapsed. */
async function visibleText(page) {
  const text = await page.locator('body').innerText();
  return text.replace(/\s+/g, ' ').trim();
}

module.exports = {
  TIMEOUT,
  RELAXED_LIMITS,
  ACL,
  installFakeRoom,
  ARTIFACTS_DIR,
  launchBrowser,
  startWorld,
  inWorld,
  newPage,
  screenshot,
  submitUsername,
  submitCode,
  wrongCode,
  signIn,
  waitForState,
  waitForPlayingPreview,
  visibleText,
};
