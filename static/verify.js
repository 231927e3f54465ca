// The code page's "send a new code" (and "call me instead") countdown. The server enforces the cooldown;
// this only shows it, so the button isn't pressed for a refusal.
(function () {
  'use strict';
  const button = document.getElementById('resend');
  const wait = document.getElementById('resend-wait');
  // "Call me instead" is under the same cooldown: it waits with the resend button.
  const call = document.getElementById('call');
  if (!button || !wait) return;
  let left = parseInt(button.getAttribute('data-resend-in'), 10) || 0;
  const label = button.textContent;
  // The texts come from the page, in its language, with "{n}" for the seconds: one
  // for the plural form of 1 (data-waiting-one) and one for the others.
  const waiting = wait.getAttribute('data-waiting') || 'You can ask for a new code in {n} seconds.';
  const waitingOne = wait.getAttribute('data-waiting-one') || 'You can ask for a new code in {n} second.';
  const ready = wait.getAttribute('data-ready') || 'You can ask for a new code now.';
  const plural = (() => {
    try {
      return new Intl.PluralRules(document.documentElement.lang || 'en');
    } catch (e) {
      return null;
    }
  })();
  function waitingText(n) {
    const one = plural ? plural.select(n) === 'one' : n === 1;
    return (one ? waitingOne : waiting).replace('{n}', String(n));
  }

  // The button shows every second; the live region speaks only at the start, every
  // 10 seconds and at the end, so screen readers aren't flooded.
  function tick() {
    if (left <= 0) {
      button.disabled = false;
      if (call) call.disabled = false;
      button.textContent = label;
      if (wait.textContent !== '') wait.textContent = ready;
      return;
    }
    button.disabled = true;
    if (call) call.disabled = true;
    button.textContent = label + ' (' + left + ')';
    if (left % 10 === 0 || wait.textContent === '') {
      wait.textContent = waitingText(left);
    }
    left -= 1;
    window.setTimeout(tick, 1000);
  }
  tick();
})();
