# roomgate's English messages: the reference catalog. Every other catalog must have
# exactly these keys, each with the same variables (a unit test checks), and falls
# back to these texts for anything it lacks at run time.
#
# Keep the sign-in texts generic: they must never hint whether a username exists,
# is on a room's list, or what its phone number is.

## Every page

# The label of the language menu in the page header.
language-menu = Language
skip-to-content = Skip to the content

## Links and buttons shared by several pages

action-try-again = Try again
action-start-again = Start again
action-back-to-code = Back to the code
action-back-to-start = Back to the start

## The start page (/)

home-title = Join a room
home-heading = Join a video room
home-hint = Type the name of the room from your invitation.
home-room-label = Room name
home-continue = Continue
home-room-invalid = Room names use lowercase letters, digits and dashes, like "team-standup".
home-room-missing = Type the name of the room from your invitation.
title-error = Error: { $title }

## The join form (/rooms/{room})

# $room: the room's name, e.g. "standup".
join-heading = Join { $room }
join-hint = Enter your username. If you are on the list for this room, we will send a one-time code by SMS to your phone.
join-may-be-recorded = This room may be recorded. While it is, everyone in it sees a “Recording” sign.
join-username-label = Username
join-submit = Send me a code
join-passkey = Use a passkey

## The code page (/rooms/{room}/verify)

code-title = Enter your code
code-sent = If you are on the list for this room, we sent you a code by SMS.
code-label = One-time code
code-submit = Verify
code-format = Enter the code from the SMS: digits only.
# Said for any wrong code, whoever the user is. $count: checks left (1 to 4).
code-wrong = That code is not right, or it was not sent to you. { $count ->
        [one] { $count } attempt left.
       *[other] { $count } attempts left.
    }
code-resend = Send a new code
# $count chooses the plural form; $n is the number as shown. The page's countdown
# script also renders this message with "{n}" in place of $n, so keep both.
code-resend-wait = { $count ->
        [one] You can ask for a new code in { $n } second.
       *[other] You can ask for a new code in { $n } seconds.
    }
code-resend-ready = You can ask for a new code now.
code-calling = If you are on the list for this room and may get codes by phone call, we are calling you now. If no call comes, use the code from the SMS.
code-call = Call me instead
code-call-hint = No SMS? We can read a code to you in a phone call, if the host allowed calls for you.
code-missing-hint = No code after a few minutes? Ask the host of this room to check the number they have for you.

## Notices: why a sign-in can't go on

notice-too-many-attempts-title = Too many attempts
notice-limited-title = Please wait
notice-too-many-attempts = That was the last attempt for this code. Start again to get a new one.
notice-too-many-sends-title = Too many codes requested
notice-too-many-sends = Too many codes were requested. Wait about 10 minutes, then start again.
notice-expired-title = This code has expired
notice-expired = Codes are valid for 10 minutes. Start again to get a new one.
notice-cannot-send-title = We could not send a code
notice-cannot-send = We could not send a text message to the number on the list. Please contact the host of this room.
notice-busy-title = Service busy
notice-unavailable = The verification service is busy or unreachable right now. Please try again in a minute.
logout-unavailable = Signing out could not be confirmed just now. Please try again in a minute.
notice-locked-out-title = Sign-in locked
# $wait: one of the wait-* phrases below, e.g. "in about 15 minutes".
notice-limited = There were too many attempts. Try again { $wait }.
notice-resend-wait = A new code can be sent { $wait }.
notice-locked-out = After several failed sign-ins, signing in is locked for a while. Try again { $wait }.
notice-busy = We can't send codes right now because of high demand. Try again { $wait }.

# When to try again, as used in $wait above.
wait-a-second = in a second
wait-seconds = { $n ->
        [one] in { $n } second
       *[other] in { $n } seconds
    }
wait-about-a-minute = in about a minute
wait-minutes = { $n ->
        [one] in about { $n } minute
       *[other] in about { $n } minutes
    }
wait-hours = { $n ->
        [one] in about { $n } hour
       *[other] in about { $n } hours
    }

## Error pages

error-form-expired-title = This form has expired
error-form-expired = For your security this form can only be sent from the page that showed it. Go back, reload the page and try again.
error-unreadable-title = We could not read that
error-unreadable = What was sent is not what this form sends. Go back, reload the page and try again.
error-not-found-title = Page not found
error-not-found = There is no page at this address.
error-method-title = Not a page to open
error-method = This address is for the site's own forms and scripts, not for opening in a browser.
error-link-refused-title = This link has expired
error-link-refused = Links to recordings work for a short time only. Go back to the recordings page and open the recording again.
error-unexpected-title = Something went wrong
error-unexpected = Please try again in a moment.

## The room page

# $room: the room's name.
room-heading = Room { $room }
# $name: the participant's username.
room-signed-in-as = Signed in as { $name }
room-sign-out = Sign out
room-loading = Loading…
room-recording = Recording
room-mute-mic = Mute microphone
room-camera-off = Turn camera off
room-rejoin = Rejoin
room-leave = Leave
room-local-mode = Local mode: no video service is configured, so nobody else can join and connecting to the room will fail. Your camera preview still works.
room-sign-in-again = Sign in again
room-retry = Retry
room-camera-off-label = Camera off
room-no-video = No video
# The label under your own camera preview. $name: your username.
room-you = { $name } (you)
room-participants = Participants
room-waiting = Nobody else is here yet.
room-needs-js = This page needs JavaScript to join the video room.
host-heading = Host controls
host-loading = Loading the participant list…
host-end-room = End the room for everyone
host-recording-start = Start recording
host-recording-stop = Stop recording

## The room page's scripts (static/room.js, static/host.js)
##
## These reach the scripts through the page's JSON data block. A variable such as
## { $room } arrives as the text "{room}" and the script fills it in; $count only
## chooses the plural form (the script asks the browser which form a number takes).

script-reload = Reload
script-camera-denied = Camera and microphone access was denied. Allow it in your browser's site settings and reload.
script-no-device = No camera or microphone was found. Connect one and reload.
script-device-busy = Your camera or microphone is being used by another app. Close that app and reload.
script-camera-failed = Your camera could not be started.
# $error: the browser's name for the error, e.g. "OverconstrainedError".
script-camera-failed-named = Your camera could not be started ({ $error }).
script-no-mic = Your microphone could not be used, so others will not hear you.
script-no-camera = Your camera could not be used, so others will not see you.
script-starting-camera = Starting your camera…
script-needs-https = This page cannot use your camera: it needs a secure (https) connection and a current browser.
script-sign-in-expired = Your sign-in has expired.
script-not-on-list = You are no longer on the list for this room.
script-removed-rejoin = { $count ->
        [one] A host removed you from this room. You can rejoin in about { $minutes } minute.
       *[other] A host removed you from this room. You can rejoin in about { $minutes } minutes.
    }
script-stale-page = This page is out of date. Reload it to continue.
script-rate-limited = { $count ->
        [one] Too many requests. Try again in { $seconds } second.
       *[other] Too many requests. Try again in { $seconds } seconds.
    }
script-token-http = Could not get a video token (HTTP { $status }).
script-unreachable = Could not reach roomgate.
script-unmute-mic = Unmute microphone
script-camera-on = Turn camera on
script-left = You left the room.
script-disconnected = Disconnected.
script-duplicate = You joined this room from another tab or device, so this one was disconnected.
script-room-ended = The room has ended.
script-host-ended = A host ended this room for everyone.
script-host-removed = A host removed you from this room.
script-participant-joined = { $name } joined the room.
script-participant-left = { $name } left the room.
script-recording-started = Recording started.
script-recording-stopped = Recording stopped.
script-reconnecting = Connection lost. Reconnecting…
script-disconnected-long = You were disconnected from the room.
script-connected = Connected to { $room }
script-video-unreachable = The video service could not be reached. Check your connection and retry.
script-join-failed = Could not join the room (error { $code }).
script-not-connected = Not connected.
script-browser-unsupported = This browser cannot join video rooms. Try a current version of Chrome, Firefox, Safari or Edge.
script-sdk-missing = The video library could not be loaded.
script-checking = Checking your sign-in…
script-local-signed-in = Signed in as { $name }. Local mode: not connecting to a video service.
script-connecting = Connecting to { $room }…
host-sign-in-expired = Your sign-in has expired. Reload the page to sign in again.
host-only-hosts = Only hosts of this room can do that.
host-failed = Something went wrong ({ $status }).
host-no-video-service = No video service is configured (local mode).
host-video-unavailable = The video service could not be reached.
host-busy = The service is busy. Please try again shortly.
host-remove = Remove
host-remove-label = Remove { $name } from the room
host-nobody = Nobody is connected right now.
host-connected-count = { $count ->
        [one] { $n } person connected.
       *[other] { $n } people connected.
    }
host-list-unreachable = Could not reach roomgate to list participants.
host-confirm-remove = Remove { $name } from the room? They cannot rejoin for 10 minutes.
host-removed = { $name } was removed.
host-confirm-end = End the room for everyone?

## The recordings page (hosts only).
recordings-heading = Recordings
recordings-intro = Recordings of the room { $room }, kept in the operator's storage.
recordings-empty = No recordings yet.
recordings-date = Ended
recordings-duration = Duration
recordings-size = Size
recordings-state = State
recordings-actions = Actions
recordings-processing = Processing
recordings-stored = Stored
recordings-failed = Failed: { $reason }
recordings-failed-in-time = Failed: Twilio did not finish composing it in time.
recordings-failed-composition = Failed: Twilio could not compose it.
recordings-failed-deleted = Failed: Twilio's copy was deleted before it was stored.
recordings-failed-gave-up = Failed: it could not be moved off Twilio, after repeated attempts.
recordings-play = Play
recordings-download = Download
recordings-player-label = Recording that ended { $ended }
recordings-close = Close the player
recordings-link-note = Each link works for { $seconds } seconds and is recorded in the audit log.
recordings-link-failed = The link could not be made.
recordings-play-failed = The recording could not be played.
recordings-back = Back to the room
recordings-only-hosts = Only hosts of this room can see its recordings.
recordings-busy = The recordings can't be listed right now. Please try again in a minute.
host-recordings = Recordings
host-recording-started = Recording started. Everyone in the room sees that it is being recorded.
host-recording-stopped = Recording stopped.
host-recording-not-allowed = This room's settings don't let hosts start or stop recording.
## Passkeys (the room page's offer and list)

passkey-offer = Sign in with a passkey next time: no code needed.
passkey-offer-add = Add a passkey
passkey-offer-dismiss = Not now
passkey-heading = Your passkeys
passkey-added = Passkey added. Next time, choose “Use a passkey”.
passkey-failed = The passkey was not added.
passkey-add-needs-code = To add another passkey, sign in with a code.
passkey-item = Passkey added on
passkey-remove = Remove
passkey-removed = Passkey removed.
passkey-none = You have no passkeys yet.
