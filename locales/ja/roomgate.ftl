# roomgate の日本語メッセージ。キーと変数は英語のカタログ
# (locales/en/roomgate.ftl) と同じにしてください。英語が基準です。
#
# 日本語には複数形がないため、$count は選択子に使うだけで表示しません。

## すべてのページ

language-menu = 言語
skip-to-content = 本文へ移動

## 共通のリンクとボタン

action-try-again = もう一度試す
action-start-again = 最初からやり直す
action-back-to-code = コードの入力に戻る
action-back-to-start = 最初のページに戻る

## スタートページ

home-title = ルームに参加
home-heading = ビデオルームに参加
home-hint = 招待状に記載されているルーム名を入力してください。
home-room-label = ルーム名
home-continue = 次へ
home-room-invalid = ルーム名には英小文字、数字、ハイフンを使用できます（例：「team-standup」）。
home-room-missing = 招待に記載されているルーム名を入力してください。
title-error = エラー: { $title }

## ルームへの参加フォーム

join-heading = { $room } に参加
join-hint = ユーザー名を入力してください。このルームの参加者リストに登録されている場合は、ワンタイムコードを SMS でお使いの電話に送信します。
join-may-be-recorded = このルームは録画されることがあります。録画中は、参加者全員に「録画中」と表示されます。
join-username-label = ユーザー名
join-submit = コードを送信
join-passkey = パスキーを使用

## コード入力ページ

code-title = コードを入力
code-sent = このルームの参加者リストに登録されている場合は、SMS でコードを送信しました。
code-label = ワンタイムコード
code-submit = 確認
code-format = SMS に記載されたコードを、数字のみで入力してください。
code-wrong = コードが正しくないか、あなた宛てに送信されたコードではありません。残り { $count } 回入力できます。
code-resend = 新しいコードを送信
code-resend-wait = { $count ->
       *[other] { $n } 秒後に新しいコードをリクエストできます。
    }
code-resend-ready = 新しいコードをリクエストできるようになりました。
code-calling = このルームのリストに登録されていて、電話でコードを受け取れる場合は、今お電話しています。電話がかかってこない場合は、SMS のコードを使ってください。
code-call = 代わりに電話で受け取る
code-call-hint = SMS が届きませんか？ホストが電話を許可している場合は、電話でコードを読み上げます。
code-missing-hint = 数分たってもコードが届かない場合は、このルームのホストに登録されている電話番号を確認してもらってください。

## お知らせ：サインインを続けられない理由

notice-too-many-attempts-title = 試行回数が多すぎます
notice-limited-title = しばらくお待ちください
notice-too-many-attempts = このコードで入力できる回数の上限に達しました。最初からやり直して、新しいコードを受け取ってください。
notice-too-many-sends-title = コードのリクエストが多すぎます
notice-too-many-sends = コードのリクエストが多すぎます。10 分ほど待ってから、最初からやり直してください。
notice-expired-title = このコードは有効期限切れです
notice-expired = コードの有効期限は 10 分です。最初からやり直して、新しいコードを受け取ってください。
notice-cannot-send-title = コードを送信できませんでした
notice-cannot-send = リストに登録されている電話番号に SMS を送信できませんでした。このルームのホストに連絡してください。
notice-busy-title = サービスが混み合っています
notice-unavailable = 認証サービスが混み合っているか、現在接続できません。1 分ほど待ってから、もう一度お試しください。
logout-unavailable = 現在、サインアウトを確認できませんでした。1 分ほど待ってから、もう一度お試しください。
notice-locked-out-title = サインインがロックされています
notice-limited = 試行回数が多すぎます。{ $wait }にもう一度お試しください。
notice-resend-wait = 新しいコードは{ $wait }に送信できます。
notice-locked-out = サインインに何度も失敗したため、しばらくの間サインインがロックされています。{ $wait }にもう一度お試しください。
notice-busy = 現在リクエストが集中しているため、コードを送信できません。{ $wait }にもう一度お試しください。

wait-a-second = 1 秒後
wait-seconds = { $n } 秒後
wait-about-a-minute = 約 1 分後
wait-minutes = 約 { $n } 分後
wait-hours = 約 { $n } 時間後

## エラーページ

error-form-expired-title = このフォームは有効期限切れです
error-form-expired = セキュリティのため、このフォームは表示されたページからのみ送信できます。前のページに戻り、ページを再読み込みしてから、もう一度お試しください。
error-unreadable-title = 送信内容を読み取れませんでした
error-unreadable = 送信された内容は、このフォームが送るものと一致しません。前のページに戻り、ページを再読み込みしてから、もう一度お試しください。
error-not-found-title = ページが見つかりません
error-not-found = このアドレスにページはありません。
error-method-title = 開くためのページではありません
error-method = このアドレスはサイトのフォームやスクリプト用で、ブラウザーで開くためのものではありません。
error-link-refused-title = このリンクは有効期限が切れています
error-link-refused = 録画へのリンクは短い時間だけ有効です。録画のページに戻って、もう一度開いてください。
error-unexpected-title = 問題が発生しました
error-unexpected = しばらくしてから、もう一度お試しください。

## ルームのページ

room-heading = ルーム { $room }
room-signed-in-as = { $name } としてサインイン中
room-sign-out = サインアウト
room-loading = 読み込み中…
room-recording = 録画中
room-mute-mic = マイクをミュート
room-camera-off = カメラをオフ
room-rejoin = 再参加
room-leave = 退出
room-local-mode = ローカルモード：ビデオサービスが設定されていないため、他の人は参加できず、ルームへの接続は失敗します。カメラのプレビューは引き続き使用できます。
room-sign-in-again = もう一度サインイン
room-retry = 再試行
room-camera-off-label = カメラはオフです
room-no-video = 映像なし
room-you = { $name }（あなた）
room-participants = 参加者
room-waiting = まだ他の参加者はいません。
room-needs-js = ビデオルームに参加するには、このページで JavaScript を有効にする必要があります。
host-heading = ホスト用の操作
host-loading = 参加者リストを読み込み中…
host-end-room = 全員に対してルームを終了
host-recording-start = 録画を開始
host-recording-stop = 録画を停止

## ルームのページのスクリプト (static/room.js, static/host.js)

script-reload = 再読み込み
script-camera-denied = カメラとマイクへのアクセスが拒否されました。ブラウザのサイト設定でアクセスを許可してから、ページを再読み込みしてください。
script-no-device = カメラもマイクも見つかりません。いずれかを接続してから、ページを再読み込みしてください。
script-device-busy = カメラまたはマイクが別のアプリで使用されています。そのアプリを閉じてから、ページを再読み込みしてください。
script-camera-failed = カメラを起動できませんでした。
script-camera-failed-named = カメラを起動できませんでした（{ $error }）。
script-no-mic = マイクを使用できなかったため、他の参加者にはあなたの声が聞こえません。
script-no-camera = カメラを使用できなかったため、他の参加者にはあなたの映像が見えません。
script-starting-camera = カメラを起動しています…
script-needs-https = このページではカメラを使用できません。安全な接続（https）と最新のブラウザが必要です。
script-sign-in-expired = サインインの有効期限が切れました。
script-not-on-list = このルームの参加者リストから外れました。
script-removed-rejoin = { $count ->
       *[other] ホストによってこのルームから退出させられました。約 { $minutes } 分後に再参加できます。
    }
script-stale-page = このページは古くなっています。続けるには、ページを再読み込みしてください。
script-rate-limited = { $count ->
       *[other] リクエストが多すぎます。{ $seconds } 秒後にもう一度お試しください。
    }
script-token-http = ビデオ用のトークンを取得できませんでした（HTTP { $status }）。
script-unreachable = roomgate に接続できませんでした。
script-unmute-mic = マイクのミュートを解除
script-camera-on = カメラをオン
script-left = ルームから退出しました。
script-disconnected = 切断されました。
script-duplicate = 別のタブまたは端末からこのルームに参加したため、こちらの接続は切断されました。
script-room-ended = ルームは終了しました。
script-host-ended = ホストが全員に対してこのルームを終了しました。
script-host-removed = ホストによってこのルームから退出させられました。
script-participant-joined = { $name } さんがルームに参加しました。
script-participant-left = { $name } さんがルームから退出しました。
script-recording-started = 録画を開始しました。
script-recording-stopped = 録画を停止しました。
script-reconnecting = 接続が切れました。再接続しています…
script-disconnected-long = ルームから切断されました。
script-connected = { $room } に接続しました
script-video-unreachable = ビデオサービスに接続できませんでした。ネットワーク接続を確認して、もう一度お試しください。
script-join-failed = ルームに参加できませんでした（エラー { $code }）。
script-not-connected = 接続されていません。
script-browser-unsupported = このブラウザではビデオルームに参加できません。Chrome、Firefox、Safari、Edge の最新版をお試しください。
script-sdk-missing = ビデオライブラリを読み込めませんでした。
script-checking = サインインを確認しています…
script-local-signed-in = { $name } としてサインイン中です。ローカルモード：ビデオサービスには接続しません。
script-connecting = { $room } に接続しています…
host-sign-in-expired = サインインの有効期限が切れました。もう一度サインインするには、ページを再読み込みしてください。
host-only-hosts = この操作ができるのは、このルームのホストだけです。
host-failed = 問題が発生しました（{ $status }）。
host-no-video-service = ビデオサービスが設定されていません（ローカルモード）。
host-video-unavailable = ビデオサービスに接続できませんでした。
host-busy = サービスが混み合っています。しばらくしてから、もう一度お試しください。
host-remove = 退出させる
host-remove-label = { $name } をルームから退出させる
host-nobody = 現在、接続している人はいません。
host-connected-count = { $count ->
       *[other] { $n } 人が接続中です。
    }
host-list-unreachable = 参加者リストを取得できませんでした。roomgate に接続できません。
host-confirm-remove = { $name } をルームから退出させますか？退出させた人は 10 分間再参加できません。
host-removed = { $name } を退出させました。
host-confirm-end = 全員に対してルームを終了しますか？

## The recordings page (hosts only).
recordings-heading = 録画
recordings-intro = ルーム { $room } の録画です。運用者のストレージに保存されています。
recordings-empty = 録画はまだありません。
recordings-date = 終了日時
recordings-duration = 長さ
recordings-size = サイズ
recordings-state = 状態
recordings-actions = 操作
recordings-processing = 処理中
recordings-stored = 保存済み
recordings-failed = 失敗: { $reason }
recordings-failed-in-time = 失敗: Twilio が時間内に合成を終えませんでした。
recordings-failed-composition = 失敗: Twilio が合成できませんでした。
recordings-failed-deleted = 失敗: 保存される前に Twilio のコピーが削除されました。
recordings-failed-gave-up = 失敗: 何度か試みましたが、Twilio から移せませんでした。
recordings-play = 再生
recordings-download = ダウンロード
recordings-player-label = { $ended } に終了した録画
recordings-close = プレーヤーを閉じる
recordings-link-note = リンクの有効期間は { $seconds } 秒で、監査ログに記録されます。
recordings-link-failed = リンクを作成できませんでした。
recordings-play-failed = 録画を再生できませんでした。
recordings-back = ルームに戻る
recordings-only-hosts = このルームの録画を見られるのはホストだけです。
recordings-busy = 現在、録画の一覧を表示できません。1 分ほどしてからもう一度お試しください。
host-recordings = 録画
host-recording-started = 録画を開始しました。ルームの全員に録画中であることが表示されます。
host-recording-stopped = 録画を停止しました。
host-recording-not-allowed = このルームの設定では、ホストは録画を開始・停止できません。
## Passkeys

passkey-offer = 次回はパスキーでサインインできます。コードは不要です。
passkey-offer-add = パスキーを追加
passkey-offer-dismiss = 今はしない
passkey-heading = あなたのパスキー
passkey-added = パスキーを追加しました。次回は「パスキーを使用」を選んでください。
passkey-failed = パスキーを追加できませんでした。
passkey-add-needs-code = 別のパスキーを追加するには、コードでサインインしてください。
passkey-item = パスキーの追加日:
passkey-remove = 削除
passkey-removed = パスキーを削除しました。
passkey-none = パスキーはまだありません。
