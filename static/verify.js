// The code page's "send a new code" countdown. The server enforces the cooldown;
// this only shows it, so the button isn't pressed for a refusal.
(function () {
  'use strict';
  var button = document.getElementById('resend');
  var wait = document.getElementById('resend-wait');
  if (!button || !wait) return;
  var left = parseInt(button.getAttribute('data-resend-in'), 10) || 0;
  var label = button.textContent;
  var waiting = wait.getAttribute('data-waiting') || 'You can ask for a new code in {n} seconds.';
  var ready = wait.getAttribute('data-ready') || 'You can ask for a new code now.';

  // The button shows every second; the live region speaks only at the start, every
  // 10 seconds and at the end, so screen readers aren't flooded.
  function tick() {
    if (left <= 0) {
      button.disabled = false;
      button.textContent = label;
      if (wait.textContent !== '') wait.textContent = ready;
      return;
    }
    button.disabled = true;
    button.textContent = label + ' (' + left + ')';
    if (left % 10 === 0 || wait.textContent === '') {
      wait.textContent = waiting.replace('{n}', String(left));
    }
    left -= 1;
    window.setTimeout(tick, 1000);
  }
  tick();
})();
