// roomgate room page: camera preview, video token, Twilio Video room.
//
// Inputs come from <meta> tags rendered by templates/room.html, and the texts
// in the page's language through static/i18n.js (the strict CSP means no inline
// script, so everything is wired up here). The access
// token is only ever held in local variables: it is never logged, stored,
// shown, or exposed on window.roomgate.
(function () {
  'use strict';

  // ---- Inputs and page elements ---------------------------------------

  function meta(name) {
    const el = document.querySelector('meta[name="' + name + '"]');
    return el ? el.getAttribute('content') || '' : '';
  }

  const config = {
    csrf: meta('csrf-token'),
    room: meta('room'),
    identity: meta('identity'),
    localMode: meta('local-mode') === 'true',
    // The room's recording setting: "off", "host" or "always".
    recording: meta('recording') || 'off',
  };

  // ---- Messages --------------------------------------------------------------

  // The page's language's texts (static/i18n.js, loaded first).
  const { t, tn } = window.roomgateI18n;

  const notConnected = () => t('script-not-connected', 'Not connected.');

  const byId = (id) => document.getElementById(id);
  const ui = {
    main: byId('main'),
    status: byId('status'),
    error: byId('error'),
    errorMessage: byId('error-message'),
    mediaError: byId('media-error'),
    errorSignin: byId('error-signin'),
    retry: byId('retry'),
    mediaNotice: byId('media-notice'),
    localPreview: byId('local-preview'),
    localMedia: byId('local-media') || byId('local-preview'),
    participants: byId('participants'),
    waiting: byId('waiting'),
    leave: byId('leave'),
    rejoin: byId('rejoin'),
    mic: byId('toggle-mic'),
    camera: byId('toggle-camera'),
    recording: byId('recording-indicator'),
    announcer: byId('announcer'),
    errorHome: byId('error-home'),
  };

  // Twilio error codes (https://www.twilio.com/docs/api/errors).
  const NETWORK_CODES = [53000, 53001, 53002, 53405];
  const TOKEN_CODES = [20101, 20103, 20104];
  const DUPLICATE_IDENTITY = 53205;
  const ROOM_COMPLETED = 53118; // a host ended the room
  const PARTICIPANT_REMOVED = [53204, 53216]; // disconnected through the REST API
  // Fetch the next token this long before the current one expires, so a reconnect
  // after the first token's lifetime still has a valid one at hand.
  const REFRESH_BEFORE_MS = 2 * 60 * 1000;
  const PERMISSION_ERRORS = ['NotAllowedError', 'PermissionDeniedError', 'SecurityError'];
  const NO_DEVICE_ERRORS = ['NotFoundError', 'DevicesNotFoundError'];

  const sdk = window.Twilio && window.Twilio.Video ? window.Twilio.Video : null;
  const Video = sdk && sdk.isSupported !== false ? sdk : null;

  // ---- State ------------------------------------------------------------

  // Test hook: where the page is, and the last problem (never the token).
  const hook = (window.roomgate = { state: 'loading', lastError: null });

  let localTracks = []; // Twilio LocalTracks, handed to connect()
  let fallbackStream = null; // raw MediaStream when the SDK is missing
  let activeRoom = null;
  let busy = false;
  let retryAction = null;
  let retryTimer = null;
  const tiles = new Map(); // participant sid -> <figure class="tile">
  let nextToken = null; // a fresh token fetched ahead of expiry (never exposed)
  let refreshTimer = null;
  let autoRejoined = false;

  function setState(state) {
    hook.state = state;
    if (ui.main) ui.main.dataset.state = state;
  }

  function setStatus(text) {
    ui.status.textContent = text;
  }

  // Strip anything shaped like a JWT, just in case an error message echoes it.
  function redact(text) {
    return String(text || '').replace(/eyJ[\w-]*\.[\w-]*\.[\w-]*/g, '[redacted]');
  }

  function recordError(code, message) {
    hook.lastError = { code: code, message: redact(message) };
  }

  function syncErrorBox() {
    ui.error.hidden = ui.errorMessage.hidden && ui.mediaError.hidden;
  }

  // Show the main error. opts.retry: a function for the Retry button;
  // opts.retryLabel: its text (default "Retry"); opts.retryAfter: seconds
  // the button stays disabled; opts.signIn: show the "Sign in again" link.
  function showError(message, opts) {
    opts = opts || {};
    clearTimeout(retryTimer);
    ui.errorMessage.textContent = message;
    ui.errorMessage.hidden = false;
    ui.errorSignin.hidden = !opts.signIn;
    if (ui.errorHome) ui.errorHome.hidden = !opts.home;
    retryAction = opts.retry || null;
    ui.retry.hidden = !retryAction;
    ui.retry.textContent = opts.retryLabel || t('room-retry', 'Retry');
    ui.retry.disabled = false;
    if (retryAction && opts.retryAfter > 0) {
      ui.retry.disabled = true;
      retryTimer = setTimeout(() => {
        ui.retry.disabled = false;
      }, opts.retryAfter * 1000);
    }
    syncErrorBox();
  }

  function clearError() {
    clearTimeout(retryTimer);
    retryAction = null;
    ui.errorMessage.textContent = '';
    ui.errorMessage.hidden = true;
    ui.errorSignin.hidden = true;
    if (ui.errorHome) ui.errorHome.hidden = true;
    ui.retry.hidden = true;
    syncErrorBox();
  }

  function fail(code, message, opts) {
    setState('error');
    showButtons('none');
    recordError(code, message);
    showError(message, opts);
    focusErrorAction();
  }

  // What happens in the room, for screen readers: a polite log of the latest few.
  function announce(text) {
    if (!ui.announcer) return;
    const line = document.createElement('p');
    line.textContent = text;
    ui.announcer.appendChild(line);
    while (ui.announcer.childElementCount > 5) ui.announcer.firstElementChild.remove();
  }

  // 'pending': Leave shown but disabled; 'leave'; 'rejoin'; 'none'.
  // Set while the button pressed (Leave, Rejoin) has gone and nothing took its place
  // yet: focus goes to whatever does, rather than falling to the page.
  let focusFollows = false;

  function showButtons(which) {
    const pressed = document.activeElement === ui.leave || document.activeElement === ui.rejoin;
    ui.leave.hidden = which !== 'leave' && which !== 'pending';
    ui.leave.disabled = which !== 'leave';
    ui.rejoin.hidden = which !== 'rejoin';
    if (!pressed && !focusFollows) return;
    const next = !ui.rejoin.hidden ? ui.rejoin : !ui.leave.disabled && !ui.leave.hidden ? ui.leave : null;
    focusFollows = !next;
    if (next) next.focus();
  }

  // After an error took the buttons away: its first way on (Retry, a link).
  function focusErrorAction() {
    if (!focusFollows) return;
    const actions = [ui.retry, ui.errorHome && ui.errorHome.querySelector('a'), ui.errorSignin.querySelector('a')];
    const first = actions.find((el) => el && !el.closest('[hidden]') && !el.disabled);
    if (first) {
      first.focus();
      focusFollows = false;
    }
  }

  // ---- Camera and microphone -------------------------------------------

  function mediaErrorMessage(err) {
    const name = (err && err.name) || '';
    if (PERMISSION_ERRORS.includes(name)) {
      return t(
        'script-camera-denied',
        "Camera and microphone access was denied. Allow it in your browser's site settings and reload."
      );
    }
    if (NO_DEVICE_ERRORS.includes(name)) {
      return t('script-no-device', 'No camera or microphone was found. Connect one and reload.');
    }
    if (name === 'NotReadableError' || name === 'TrackStartError') {
      return t(
        'script-device-busy',
        'Your camera or microphone is being used by another app. Close that app and reload.'
      );
    }
    return name
      ? t('script-camera-failed-named', 'Your camera could not be started ({error}).', { error: name })
      : t('script-camera-failed', 'Your camera could not be started.');
  }

  function showMediaError(err, message) {
    message = message || mediaErrorMessage(err);
    recordError((err && err.name) || 'media', message);
    ui.mediaError.textContent = message;
    ui.mediaError.hidden = false;
    syncErrorBox();
  }

  function showMediaNotice(text) {
    ui.mediaNotice.textContent = text;
    ui.mediaNotice.hidden = !text;
  }

  // Audio and video; else video only; else audio only (a desktop with a
  // headset but no webcam). Throws the camera's error if all fail.
  async function createTracks() {
    const video = { width: 640 };
    let bothError;
    try {
      return await Video.createLocalTracks({ audio: true, video: video });
    } catch (err) {
      bothError = err;
    }
    let videoError;
    try {
      const tracks = await Video.createLocalTracks({ audio: false, video: video });
      showMediaNotice(t('script-no-mic', 'Your microphone could not be used, so others will not hear you.'));
      return tracks;
    } catch (err) {
      videoError = err;
    }
    const refused = (e) => PERMISSION_ERRORS.includes(e && e.name);
    if (refused(bothError) && refused(videoError)) throw videoError; // don't keep asking
    try {
      const tracks = await Video.createLocalTracks({ audio: true, video: false });
      showMediaNotice(t('script-no-camera', 'Your camera could not be used, so others will not see you.'));
      return tracks;
    } catch (err) {
      throw videoError;
    }
  }

  function attachLocalVideo(el) {
    el.muted = true;
    el.setAttribute('playsinline', '');
    ui.localMedia.appendChild(el);
    ui.localPreview.classList.add('has-video');
  }

  async function startPreview() {
    if (localTracks.length || fallbackStream) return;
    setState('preview');
    setStatus(t('script-starting-camera', 'Starting your camera…'));
    ui.mediaError.hidden = true;
    syncErrorBox();
    showMediaNotice('');
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showMediaError(
        { name: 'NotSupportedError' },
        t(
          'script-needs-https',
          'This page cannot use your camera: it needs a secure (https) connection and a current browser.'
        )
      );
      return;
    }
    try {
      if (Video) {
        localTracks = await createTracks();
        const videoTrack = localTracks.find((t) => t.kind === 'video');
        if (videoTrack) attachLocalVideo(videoTrack.attach());
        syncToggles();
      } else {
        // No SDK: a plain preview, video only since nothing will be sent.
        fallbackStream = await navigator.mediaDevices.getUserMedia({ audio: false, video: { width: 640 } });
        const el = document.createElement('video');
        el.autoplay = true;
        el.srcObject = fallbackStream;
        attachLocalVideo(el);
      }
    } catch (err) {
      showMediaError(err);
    }
  }

  function stopLocalMedia() {
    localTracks.forEach((track) => {
      track.stop();
      track.detach().forEach((el) => el.remove());
    });
    localTracks = [];
    syncToggles();
    if (fallbackStream) {
      fallbackStream.getTracks().forEach((t) => t.stop());
      fallbackStream = null;
    }
    ui.localMedia.querySelectorAll('video, audio').forEach((el) => el.remove());
    ui.localPreview.classList.remove('has-video');
  }

  // ---- Access token ------------------------------------------------------

  function parseRetryAfter(value) {
    if (!value) return 0;
    if (/^\d+$/.test(value.trim())) return parseInt(value, 10);
    const when = Date.parse(value);
    return isNaN(when) ? 0 : Math.max(0, Math.ceil((when - Date.now()) / 1000));
  }

  // The server's JSON error code ({"error": "csrf"}), if there is one.
  async function errorCode(res) {
    try {
      const body = await res.json();
      return body && typeof body.error === 'string' ? body.error : '';
    } catch (e) {
      return '';
    }
  }

  function tokenError(kind, status, retryAfter) {
    const err = new Error('token request failed: ' + kind);
    err.kind = kind;
    err.status = status;
    err.retryAfter = retryAfter || 0;
    return err;
  }

  async function fetchToken() {
    let res;
    try {
      res = await fetch('/rooms/' + encodeURIComponent(config.room) + '/token', {
        method: 'POST',
        credentials: 'same-origin',
        cache: 'no-store',
        headers: { 'X-CSRF-Token': config.csrf, Accept: 'application/json' },
      });
    } catch (e) {
      throw tokenError('network', 0);
    }
    if (res.ok) {
      let data = null;
      try {
        data = await res.json();
      } catch (e) {
        data = null;
      }
      if (!data || typeof data.token !== 'string' || !data.token) throw tokenError('server', res.status);
      scheduleRefresh(data.expires_at);
      return data;
    }
    if (res.status === 401) throw tokenError('expired', 401);
    if (res.status === 403) {
      // A CSRF mismatch means this page is stale (signed in again elsewhere).
      const code = await errorCode(res);
      if (code === 'removed') throw tokenError('removed', 403, parseRetryAfter(res.headers.get('Retry-After')));
      throw tokenError(code === 'csrf' ? 'stale' : 'forbidden', 403);
    }
    if (res.status === 429) throw tokenError('rate-limited', 429, parseRetryAfter(res.headers.get('Retry-After')));
    if (res.status >= 500) throw tokenError('server', res.status);
    throw tokenError('unexpected', res.status);
  }

  function handleTokenError(err) {
    switch (err.kind) {
      case 'expired':
        stopLocalMedia();
        return fail(401, t('script-sign-in-expired', 'Your sign-in has expired.'), { signIn: true });
      case 'forbidden':
        stopLocalMedia();
        return fail(403, t('script-not-on-list', 'You are no longer on the list for this room.'));
      case 'removed': {
        stopLocalMedia();
        const minutes = Math.max(1, Math.ceil((err.retryAfter || 600) / 60));
        const message = tn(
          'script-removed-rejoin',
          minutes,
          'A host removed you from this room. You can rejoin in about {minutes} minute.',
          'A host removed you from this room. You can rejoin in about {minutes} minutes.',
          { minutes: minutes }
        );
        return fail(403, message, { retry: join, retryAfter: err.retryAfter || 600 });
      }
      case 'stale':
        return fail(403, t('script-stale-page', 'This page is out of date. Reload it to continue.'), {
          retry: () => location.reload(),
          retryLabel: t('script-reload', 'Reload'),
        });
      case 'rate-limited': {
        const wait = err.retryAfter || 5;
        const message = tn(
          'script-rate-limited',
          wait,
          'Too many requests. Try again in {seconds} second.',
          'Too many requests. Try again in {seconds} seconds.',
          { seconds: wait }
        );
        return fail(429, message, { retry: join, retryAfter: wait });
      }
      case 'unexpected':
        return fail(err.status, t('script-token-http', 'Could not get a video token (HTTP {status}).', {
          status: err.status,
        }), { retry: join });
      default: // network, 5xx, malformed reply
        return fail(err.status || 'network', t('script-unreachable', 'Could not reach roomgate.'), { retry: join });
    }
  }

  // ---- Token refresh ------------------------------------------------------------

  function scheduleRefresh(expiresAt) {
    if (refreshTimer) window.clearTimeout(refreshTimer);
    refreshTimer = null;
    if (typeof expiresAt !== 'number') return;
    const due = expiresAt * 1000 - REFRESH_BEFORE_MS - Date.now();
    refreshTimer = window.setTimeout(refreshToken, Math.max(due, 30 * 1000));
  }

  async function refreshToken() {
    refreshTimer = null;
    if (!activeRoom) return;
    try {
      const data = await fetchToken(); // schedules the next refresh itself
      nextToken = data.token;
    } catch (err) {
      // The room stays connected; a reconnect will fetch (and report) again.
      recordError(err.status || 'network', 'token refresh failed: ' + err.kind);
      if (err.kind === 'expired' || err.kind === 'forbidden' || err.kind === 'removed') return;
      refreshTimer = window.setTimeout(refreshToken, 60 * 1000);
    }
  }

  // ---- Microphone and camera ------------------------------------------------------

  function tracksOf(kind) {
    return localTracks.filter((t) => t.kind === kind);
  }

  // The button's name says what pressing it does ("Unmute microphone"); its look
  // says the device is off. (No aria-pressed besides: a toggle whose name changes
  // too reads as its opposite.)
  function syncToggle(button, kind, onText, offText) {
    if (!button) return;
    const tracks = tracksOf(kind);
    const on = tracks.length > 0 && tracks.every((t) => t.isEnabled !== false);
    button.hidden = tracks.length === 0;
    button.classList.toggle('is-off', !on);
    button.textContent = on ? onText : offText;
  }

  function syncToggles() {
    syncToggle(ui.mic, 'audio', t('room-mute-mic', 'Mute microphone'), t('script-unmute-mic', 'Unmute microphone'));
    syncToggle(ui.camera, 'video', t('room-camera-off', 'Turn camera off'), t('script-camera-on', 'Turn camera on'));
    if (ui.localPreview) {
      const cameraOn = tracksOf('video').some((t) => t.isEnabled !== false);
      ui.localPreview.classList.toggle('camera-off', !cameraOn);
    }
  }

  function toggle(kind) {
    const tracks = tracksOf(kind);
    if (tracks.length === 0) return;
    const turnOn = tracks.some((t) => t.isEnabled === false);
    // disable() keeps the track published (others see it muted), so turning it back
    // on needs no renegotiation.
    tracks.forEach((t) => (turnOn ? t.enable() : t.disable()));
    syncToggles();
  }

  // ---- The room ------------------------------------------------------------

  function updateWaiting() {
    ui.waiting.hidden = !activeRoom || tiles.size > 0;
  }

  function attachTrack(track, tile) {
    if (track.kind !== 'audio' && track.kind !== 'video') return; // e.g. data tracks
    const el = track.attach();
    if (track.kind === 'video') el.setAttribute('playsinline', '');
    tile.querySelector('.tile-media').appendChild(el);
    tile.classList.toggle('has-video', !!tile.querySelector('video'));
  }

  function detachTrack(track, tile) {
    if (typeof track.detach !== 'function') return;
    track.detach().forEach((el) => el.remove());
    tile.classList.toggle('has-video', !!tile.querySelector('video'));
  }

  function addParticipant(participant) {
    if (tiles.has(participant.sid)) return;
    const tile = document.createElement('figure');
    tile.className = 'tile';
    tile.dataset.identity = participant.identity;
    const media = document.createElement('div');
    media.className = 'tile-media';
    media.dataset.noVideoLabel = t('room-no-video', 'No video');
    const caption = document.createElement('figcaption');
    caption.textContent = participant.identity;
    tile.append(media, caption);
    ui.participants.appendChild(tile);
    tiles.set(participant.sid, tile);

    participant.tracks.forEach((publication) => {
      if (publication.isSubscribed && publication.track) attachTrack(publication.track, tile);
    });
    participant.on('trackSubscribed', (track) => attachTrack(track, tile));
    participant.on('trackUnsubscribed', (track) => detachTrack(track, tile));
    updateWaiting();
  }

  function highlightSpeaker(participant) {
    tiles.forEach((tile) => tile.classList.remove('speaking'));
    const tile = participant ? tiles.get(participant.sid) : null;
    if (tile) tile.classList.add('speaking');
  }

  function removeParticipant(participant) {
    const tile = tiles.get(participant.sid);
    if (!tile) return;
    participant.tracks.forEach((publication) => {
      if (publication.track) detachTrack(publication.track, tile);
    });
    participant.removeAllListeners('trackSubscribed');
    participant.removeAllListeners('trackUnsubscribed');
    tile.remove();
    tiles.delete(participant.sid);
    updateWaiting();
  }

  function onDisconnected(room, error) {
    room.participants.forEach(removeParticipant);
    tiles.forEach((tile) => tile.remove());
    tiles.clear();
    activeRoom = null;
    updateWaiting();
    stopLocalMedia();
    showMediaNotice('');

    const disconnected = t('script-disconnected', 'Disconnected.');
    if (!error) {
      setState('left');
      setStatus(t('script-left', 'You left the room.'));
      showButtons('rejoin');
    } else if (error.code === DUPLICATE_IDENTITY) {
      setStatus(disconnected);
      fail(
        error.code,
        t('script-duplicate', 'You joined this room from another tab or device, so this one was disconnected.'),
        { home: true }
      );
    } else if (error.code === ROOM_COMPLETED) {
      setState('left');
      setStatus(t('script-room-ended', 'The room has ended.'));
      fail(error.code, t('script-host-ended', 'A host ended this room for everyone.'), { home: true });
    } else if (PARTICIPANT_REMOVED.includes(error.code)) {
      setStatus(disconnected);
      fail(error.code, t('script-host-removed', 'A host removed you from this room.'), { home: true });
    } else if (NETWORK_CODES.includes(error.code) && !autoRejoined) {
      // The SDK gave up reconnecting: try once more ourselves, with a fresh token.
      autoRejoined = true;
      setStatus(t('script-reconnecting', 'Connection lost. Reconnecting…'));
      window.setTimeout(join, 2000);
    } else {
      setStatus(disconnected);
      fail(error.code || 'disconnected', t('script-disconnected-long', 'You were disconnected from the room.'));
      if (error.message) recordError(error.code || 'disconnected', error.message);
      showButtons('rejoin');
    }
  }

  function onConnected(room) {
    activeRoom = room;
    autoRejoined = false;
    setState('connected');
    const connected = t('script-connected', 'Connected to {room}', { room: config.room });
    setStatus(connected);
    showButtons('leave');
    room.participants.forEach(addParticipant);
    room.on('participantConnected', (participant) => {
      addParticipant(participant);
      announce(t('script-participant-joined', '{name} joined the room.', { name: participant.identity }));
    });
    room.on('participantDisconnected', (participant) => {
      removeParticipant(participant);
      announce(t('script-participant-left', '{name} left the room.', { name: participant.identity }));
    });
    room.on('reconnecting', () => setStatus(t('script-reconnecting', 'Connection lost. Reconnecting…')));
    room.on('reconnected', () => setStatus(connected));
    room.on('dominantSpeakerChanged', highlightSpeaker);
    room.once('disconnected', onDisconnected);
    watchRecording(room);
    updateWaiting();
  }

  // roomgate makes the room in the background as it hands out the token (a slow
  // Video API never delays the token). With client-side room creation off, as the
  // README asks, a connect that gets there first finds no room (53103 or 53106): it is
  // tried again a few times, as the room is on its way.
  const ROOM_PENDING_CODES = [53103, 53106];
  const ROOM_PENDING_WAITS_MS = [500, 1000, 1500, 2000, 3000];

  async function connect(token) {
    for (let attempt = 0; ; attempt++) {
      try {
        return await Video.connect(token, { name: config.room, tracks: localTracks, dominantSpeaker: true });
      } catch (err) {
        const pending = err && ROOM_PENDING_CODES.includes(err.code);
        if (!pending || attempt >= ROOM_PENDING_WAITS_MS.length) throw err;
        await new Promise((resolve) => setTimeout(resolve, ROOM_PENDING_WAITS_MS[attempt]));
      }
    }
  }

  function handleConnectError(err) {
    const code = err && typeof err.code === 'number' ? err.code : null;
    const offline = navigator.onLine === false;
    if (offline || code === null || NETWORK_CODES.includes(code)) {
      const message = t(
        'script-video-unreachable',
        'The video service could not be reached. Check your connection and retry.'
      );
      fail(code || 'network', message, { retry: join });
    } else {
      fail(code, t('script-join-failed', 'Could not join the room (error {code}).', { code: code }), { retry: join });
    }
    if (err && err.message) recordError(code || 'network', err.message);
    setStatus(notConnected());
  }

  async function join() {
    if (busy || activeRoom) return;
    busy = true;
    clearError();
    showButtons('pending');
    try {
      await startPreview();

      if (!Video) {
        const code = sdk ? 'unsupported' : 'sdk-missing';
        const message = sdk
          ? t(
            'script-browser-unsupported',
            'This browser cannot join video rooms. Try a current version of Chrome, Firefox, Safari or Edge.'
          )
          : t('script-sdk-missing', 'The video library could not be loaded.');
        if (!config.localMode) {
          fail(code, message, sdk ? undefined : { retry: () => location.reload() });
          setStatus(notConnected());
          return;
        }
        // Local mode without the SDK: nothing to connect with, but the preview
        // and the sign-in check still work, so go on.
        recordError(code, message);
        showError(message);
      }

      setState('token');
      setStatus(t('script-checking', 'Checking your sign-in…'));
      let data;
      if (nextToken) {
        // Fetched ahead of expiry while the last connection was up.
        data = { token: nextToken, identity: config.identity };
        nextToken = null;
      } else {
        try {
          data = await fetchToken();
        } catch (err) {
          handleTokenError(err);
          setStatus(notConnected());
          return;
        }
      }

      if (!Video) {
        // Only in local mode (see above): no SDK, so no room to connect to.
        setState('local-mode');
        setStatus(t('script-local-signed-in', 'Signed in as {name}. Local mode: not connecting to a video service.', {
          name: data.identity || config.identity,
        }));
        showButtons('leave');
        return;
      }

      // Local mode connects too, the same way: its token opens no room (no video
      // service is configured), so connect fails and its error shows as usual.
      setState('connecting');
      setStatus(t('script-connecting', 'Connecting to {room}…', { room: config.room }));
      let room;
      try {
        room = await connect(data.token);
      } catch (err) {
        if (!err || !TOKEN_CODES.includes(err.code)) return handleConnectError(err);
        // The token was refused (expired, clock skew…): one fresh try.
        try {
          data = await fetchToken();
        } catch (tokenErr) {
          handleTokenError(tokenErr);
          setStatus(notConnected());
          return;
        }
        try {
          room = await connect(data.token);
        } catch (err2) {
          return handleConnectError(err2);
        }
      }
      onConnected(room);
    } finally {
      busy = false;
    }
  }

  function leave() {
    if (activeRoom) {
      activeRoom.disconnect(); // emits 'disconnected' with no error
    } else if (hook.state === 'local-mode') {
      stopLocalMedia();
      setState('left');
      setStatus(t('script-left', 'You left the room.'));
      showButtons('rejoin');
    }
  }

  function onPageHide() {
    if (activeRoom) activeRoom.disconnect();
    stopLocalMedia();
  }

  // ---- Recording indicator -------------------------------------------------------

  // Everyone sees "Recording" while the room is recorded. Two sources say so: the
  // SDK's Room (isRecording at connect, then recordingStarted / recordingStopped),
  // and roomgate itself, asked every RECORDING_POLL_MS because the SDK's events can
  // fail to arrive. Whichever changed last is shown; a first answer from roomgate
  // only ever turns the sign on, since "not recording" is news only as a change.
  const RECORDING_POLL_MS = 1500;
  let lastPolled = null;
  let recordingTimer = null;

  function showRecording(on) {
    on = !!on;
    if (on !== !!hook.recording) {
      announce(on ? t('script-recording-started', 'Recording started.') : t('script-recording-stopped', 'Recording stopped.'));
    }
    hook.recording = on;
    if (ui.recording) ui.recording.hidden = !on;
    // The host controls (static/host.js) show Start or Stop to match.
    document.dispatchEvent(new CustomEvent('roomgate:recording', { detail: { recording: on } }));
  }
  hook.showRecording = showRecording;

  // Set while this page may not ask (a host removed its participant, or the list
  // did): asked again once it has joined again. A sign-in that is over stops it.
  let recordingPaused = false;

  function pollRecording() {
    if (document.hidden || recordingPaused) return;
    fetch('/rooms/' + config.room + '/recording', {
      headers: { Accept: 'application/json' },
      credentials: 'same-origin',
    })
      .then((res) => {
        if (res.status === 401) window.clearInterval(recordingTimer);
        if (res.status === 403) recordingPaused = true;
        return res.ok ? res.json() : null;
      })
      .then((body) => {
        if (!body || typeof body.recording !== 'boolean') return;
        const changed = lastPolled !== null && body.recording !== lastPolled;
        if (changed || (lastPolled === null && body.recording)) showRecording(body.recording);
        lastPolled = body.recording;
      })
      .catch(() => {});
  }

  function watchRecording(room) {
    recordingPaused = false;
    if (room.isRecording === true) showRecording(true);
    room.on('recordingStarted', () => showRecording(true));
    room.on('recordingStopped', () => showRecording(false));
  }

  // A room that is never recorded has no sign to keep up to date.
  if (config.recording !== 'off') {
    pollRecording();
    recordingTimer = window.setInterval(pollRecording, RECORDING_POLL_MS);
    window.addEventListener('pagehide', () => window.clearInterval(recordingTimer));
  }

  // ---- Wiring -----------------------------------------------------------------

  ui.leave.addEventListener('click', leave);
  if (ui.mic) ui.mic.addEventListener('click', () => toggle('audio'));
  if (ui.camera) ui.camera.addEventListener('click', () => toggle('video'));
  ui.rejoin.addEventListener('click', join);
  ui.retry.addEventListener('click', () => {
    const action = retryAction;
    clearError();
    if (action) action();
  });
  window.addEventListener('pagehide', onPageHide);
  window.addEventListener('beforeunload', onPageHide);

  // Back from the back/forward cache: media and room were let go on
  // pagehide, so start over.
  window.addEventListener('pageshow', (event) => {
    if (event.persisted) location.reload();
  });

  join();
})();
