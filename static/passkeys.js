// Passkeys, on two pages (loaded only when roomgate offers them):
// - the join form: "Use a passkey" beside "Send me a code". Any failure (no passkey
//   in this browser, cancelled, refused) falls back quietly to the code: the form is
//   sent as if "Send me a code" had been pressed.
// - the room page: the offer "Sign in with a passkey next time" (dismissable, the
//   choice remembered in localStorage) and the list of the member's own passkeys.
// Texts come from the page (translated server-side), never from here.
(function () {
  'use strict';

  if (!window.PublicKeyCredential || !navigator.credentials) return;

  // WebAuthn wants ArrayBuffers; roomgate speaks base64url (webauthn-rs's JSON).
  const fromB64u = (s) => {
    const b64 = s.replace(/-/g, '+').replace(/_/g, '/');
    const bin = atob(b64 + '==='.slice((b64.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
  };
  const toB64u = (buf) => {
    if (!buf) return undefined;
    let bin = '';
    new Uint8Array(buf).forEach((b) => { bin += String.fromCharCode(b); });
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };

  // Credential descriptors from roomgate, their ids as the browser wants them.
  const withIds = (list) => (list || []).map((c) => ({ ...c, id: fromB64u(c.id) }));

  // The browser's credential as webauthn-rs reads it: the response's `fields` in
  // base64url, plus `extra`.
  const encode = (cred, fields, extra) => ({
    id: cred.id,
    rawId: toB64u(cred.rawId),
    type: cred.type,
    response: Object.assign(
      Object.fromEntries(fields.map((f) => [f, toB64u(cred.response[f])])),
      extra
    ),
    extensions: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
  });

  const post = (url, csrf, body) =>
    fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body),
    });

  const joinPage = () => {
    const button = document.getElementById('use-passkey');
    if (!button) return false;
    const form = button.form;
    const csrf = form.querySelector('input[name="csrf_token"]').value;
    const input = form.querySelector('#username');
    const base = form.getAttribute('action').replace(/\/login$/, '');
    const fallBack = () => {
      button.disabled = false;
      form.submit();
    };
    button.hidden = false;
    button.addEventListener('click', async () => {
      if (!form.reportValidity()) return;
      button.disabled = true;
      try {
        const options = await post(base + '/passkeys/options', csrf, { username: input.value });
        if (!options.ok) return fallBack();
        const { ceremony, publicKey } = await options.json();
        publicKey.challenge = fromB64u(publicKey.challenge);
        publicKey.allowCredentials = withIds(publicKey.allowCredentials);
        const cred = await navigator.credentials.get({ publicKey });
        const credential = encode(cred, ['authenticatorData', 'clientDataJSON', 'signature', 'userHandle']);
        const done = await post(base + '/passkeys/finish', csrf, { ceremony, credential });
        if (!done.ok) return fallBack();
        const { redirect } = await done.json();
        window.location.assign(redirect);
      } catch (e) {
        fallBack();
      }
    });
    return true;
  };

  const roomPage = () => {
    const section = document.getElementById('passkeys');
    if (!section) return;
    const meta = (name) => document.querySelector(`meta[name="${name}"]`).getAttribute('content');
    const csrf = meta('csrf-token');
    const room = meta('room');
    const identity = meta('identity');
    const base = `/rooms/${room}/passkeys`;
    const text = (key) => section.dataset[key] || '';
    const offer = document.getElementById('passkey-offer');
    const status = document.getElementById('passkey-status');
    const list = document.getElementById('passkey-list');
    const another = document.getElementById('passkey-add-another');
    const heading = document.getElementById('passkeys-heading');
    const dismissedKey = `roomgate-passkey-offer-dismissed:${identity}`;
    const remembered = (key) => {
      try { return window.localStorage.getItem(key) === '1'; } catch (e) { return false; }
    };
    const remember = (key) => {
      try { window.localStorage.setItem(key, '1'); } catch (e) { /* private mode: asked again */ }
    };

    const refresh = async () => {
      const resp = await fetch(base, { credentials: 'same-origin' });
      if (!resp.ok) return;
      const { passkeys } = await resp.json();
      list.replaceChildren();
      passkeys.forEach((p, i) => {
        const li = document.createElement('li');
        const label = document.createElement('span');
        label.id = `passkey-item-${i}`;
        label.textContent = `${text('item')} ${new Date(p.created * 1000).toLocaleString(document.documentElement.lang || undefined)}`;
        const remove = document.createElement('button');
        remove.type = 'button';
        remove.className = 'secondary';
        remove.id = `passkey-remove-${i}`;
        remove.textContent = text('remove');
        // "Remove, Passkey added on …": each button named for its own passkey.
        remove.setAttribute('aria-labelledby', `${remove.id} ${label.id}`);
        remove.dataset.passkeyId = p.id;
        remove.addEventListener('click', async () => {
          const r = await post(`${base}/${encodeURIComponent(p.id)}/remove`, csrf, {});
          if (r.ok) {
            status.textContent = text('removed');
            await refresh();
            // The button pressed is gone: focus goes on within the section.
            const next = list.querySelector('button') || (!another.hidden && another) || heading;
            next.focus();
          } else if (r.status === 403 && text('needsCode')) {
            // Signed in with a passkey: only that one may go from here.
            status.textContent = text('needsCode');
          }
        });
        li.append(label, ' ', remove);
        list.append(li);
      });
      if (!passkeys.length) status.textContent = status.textContent || text('none');
      // Offered while the member has none here (a passkey dropped with a changed
      // number is offered again), unless they said not now.
      offer.hidden = passkeys.length > 0 || remembered(dismissedKey);
      another.hidden = !offer.hidden;
      // Signed in with a passkey: another is added after signing in with a code.
      if (text('needsCode')) {
        offer.hidden = true;
        another.hidden = true;
        status.textContent = text('needsCode');
      }
    };

    const register = async () => {
      try {
        const start = await post(`${base}/register/start`, csrf, {});
        if (!start.ok) throw new Error(String(start.status));
        const { ceremony, publicKey } = await start.json();
        publicKey.challenge = fromB64u(publicKey.challenge);
        publicKey.user.id = fromB64u(publicKey.user.id);
        publicKey.excludeCredentials = withIds(publicKey.excludeCredentials);
        const cred = await navigator.credentials.create({ publicKey });
        const r = cred.response;
        const credential = encode(cred, ['attestationObject', 'clientDataJSON'], {
          transports: r.getTransports ? r.getTransports() : undefined,
        });
        const done = await post(`${base}/register/finish`, csrf, { ceremony, credential });
        if (!done.ok) throw new Error(String(done.status));
        status.textContent = text('added');
        await refresh();
      } catch (e) {
        status.textContent = text('failed');
      }
    };

    document.getElementById('passkey-add').addEventListener('click', register);
    another.addEventListener('click', register);
    document.getElementById('passkey-dismiss').addEventListener('click', () => {
      remember(dismissedKey);
      offer.hidden = true;
      another.hidden = false;
      // The offer (and the button pressed) is gone: focus on what took its place.
      another.focus();
    });
    section.hidden = false;
    refresh();
  };

  if (!joinPage()) roomPage();
})();
