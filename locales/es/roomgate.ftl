# Mensajes de roomgate en español. Las claves y las variables son las del catálogo
# en inglés (locales/en/roomgate.ftl), que es la referencia.

## Todas las páginas

language-menu = Idioma
skip-to-content = Ir al contenido

## Enlaces y botones comunes

action-try-again = Intentar de nuevo
action-start-again = Empezar de nuevo
action-back-to-code = Volver al código
action-back-to-start = Volver al inicio

## Página de inicio

home-title = Unirse a una sala
home-heading = Unirse a una sala de video
home-hint = Escribe el nombre de la sala que aparece en tu invitación.
home-room-label = Nombre de la sala
home-continue = Continuar
home-room-invalid = Los nombres de sala usan letras minúsculas, números y guiones, por ejemplo “team-standup”.
home-room-missing = Escribe el nombre de la sala que aparece en tu invitación.
title-error = Error: { $title }

## Formulario para unirse a una sala

join-heading = Unirse a { $room }
join-hint = Escribe tu nombre de usuario. Si estás en la lista de esta sala, te enviaremos un código de un solo uso por SMS a tu teléfono.
join-may-be-recorded = Esta sala puede grabarse. Mientras se graba, todos los que están en ella ven el aviso «Grabando».
join-username-label = Nombre de usuario
join-submit = Enviarme un código
join-passkey = Usar una llave de acceso

## Página del código

code-title = Escribe tu código
code-sent = Si estás en la lista de esta sala, te enviamos un código por SMS.
code-label = Código de un solo uso
code-submit = Verificar
code-format = Escribe el código del SMS: solo números.
code-wrong = Ese código no es correcto o no se te envió a ti. { $count ->
        [one] Te queda { $count } intento.
       *[other] Te quedan { $count } intentos.
    }
code-resend = Enviar un código nuevo
code-resend-wait = { $count ->
        [one] Podrás pedir un código nuevo dentro de { $n } segundo.
       *[other] Podrás pedir un código nuevo dentro de { $n } segundos.
    }
code-resend-ready = Ya puedes pedir un código nuevo.
code-calling = Si estás en la lista de esta sala y puedes recibir códigos por llamada, te estamos llamando ahora. Si no llega ninguna llamada, usa el código del SMS.
code-call = Mejor llámame
code-call-hint = ¿No te llega el SMS? Podemos leerte un código en una llamada, si el anfitrión te permitió las llamadas.
code-missing-hint = ¿Ningún código después de unos minutos? Pide al anfitrión de esta sala que revise el número que tiene tuyo.

## Avisos: por qué no puede continuar el inicio de sesión

notice-too-many-attempts-title = Demasiados intentos
notice-limited-title = Espera un momento
notice-too-many-attempts = Ese fue el último intento para este código. Empieza de nuevo para recibir otro.
notice-too-many-sends-title = Demasiados códigos solicitados
notice-too-many-sends = Se solicitaron demasiados códigos. Espera unos 10 minutos y vuelve a empezar.
notice-expired-title = Este código ha expirado
notice-expired = Los códigos son válidos durante 10 minutos. Empieza de nuevo para recibir otro.
notice-cannot-send-title = No pudimos enviar un código
notice-cannot-send = No pudimos enviar un mensaje de texto al número de la lista. Ponte en contacto con el anfitrión de esta sala.
notice-busy-title = Servicio saturado
notice-unavailable = El servicio de verificación está saturado o no responde en este momento. Vuelve a intentarlo dentro de un minuto.
logout-unavailable = No se ha podido confirmar el cierre de sesión en este momento. Vuelve a intentarlo dentro de un minuto.
notice-locked-out-title = Inicio de sesión bloqueado
notice-limited = Hubo demasiados intentos. Vuelve a intentarlo { $wait }.
notice-resend-wait = Se podrá enviar un nuevo código { $wait }.
notice-locked-out = Después de varios intentos fallidos, el inicio de sesión queda bloqueado durante un tiempo. Vuelve a intentarlo { $wait }.
notice-busy = No podemos enviar códigos en este momento debido a la alta demanda. Vuelve a intentarlo { $wait }.

wait-a-second = dentro de un segundo
wait-seconds = { $n ->
        [one] dentro de { $n } segundo
       *[other] dentro de { $n } segundos
    }
wait-about-a-minute = dentro de un minuto aproximadamente
wait-minutes = { $n ->
        [one] dentro de { $n } minuto aproximadamente
       *[other] dentro de unos { $n } minutos
    }
wait-hours = { $n ->
        [one] dentro de { $n } hora aproximadamente
       *[other] dentro de unas { $n } horas
    }

## Páginas de error

error-form-expired-title = Este formulario ha expirado
error-form-expired = Por tu seguridad, este formulario solo se puede enviar desde la página que lo mostró. Vuelve atrás, recarga la página e inténtalo de nuevo.
error-unreadable-title = No pudimos leer el envío
error-unreadable = Lo enviado no corresponde a lo que envía este formulario. Vuelve atrás, recarga la página e inténtalo de nuevo.
error-not-found-title = Página no encontrada
error-not-found = No hay ninguna página en esta dirección.
error-method-title = No es una página para abrir
error-method = Esta dirección es para los formularios y scripts del propio sitio, no para abrirla en el navegador.
error-link-refused-title = Este enlace ha caducado
error-link-refused = Los enlaces a las grabaciones solo funcionan durante poco tiempo. Vuelve a la página de grabaciones y abre la grabación de nuevo.
error-unexpected-title = Algo salió mal
error-unexpected = Vuelve a intentarlo en un momento.

## La página de la sala

room-heading = Sala { $room }
room-signed-in-as = Sesión iniciada como { $name }
room-sign-out = Cerrar sesión
room-loading = Cargando…
room-recording = Grabando
room-mute-mic = Silenciar micrófono
room-camera-off = Apagar cámara
room-rejoin = Volver a unirse
room-leave = Salir
room-local-mode = Modo local: no hay ningún servicio de video configurado, así que nadie más puede unirse y la conexión con la sala fallará. La vista previa de tu cámara sigue funcionando.
room-sign-in-again = Volver a iniciar sesión
room-retry = Reintentar
room-camera-off-label = Cámara apagada
room-no-video = Sin video
room-you = { $name } (tú)
room-participants = Participantes
room-waiting = Todavía no hay nadie más.
room-needs-js = Esta página necesita JavaScript para unirse a la sala de video.
host-heading = Controles del anfitrión
host-loading = Cargando la lista de participantes…
host-end-room = Finalizar la sala para todos
host-recording-start = Empezar a grabar
host-recording-stop = Dejar de grabar

## Los scripts de la página de la sala (static/room.js, static/host.js)

script-reload = Recargar
script-camera-denied = Se denegó el acceso a la cámara y al micrófono. Permítelo en la configuración del sitio de tu navegador y recarga la página.
script-no-device = No se encontró ninguna cámara ni ningún micrófono. Conecta uno y recarga la página.
script-device-busy = Otra aplicación está usando tu cámara o tu micrófono. Ciérrala y recarga la página.
script-camera-failed = No se pudo iniciar tu cámara.
script-camera-failed-named = No se pudo iniciar tu cámara ({ $error }).
script-no-mic = No se pudo usar tu micrófono, así que los demás no te oirán.
script-no-camera = No se pudo usar tu cámara, así que los demás no te verán.
script-starting-camera = Iniciando tu cámara…
script-needs-https = Esta página no puede usar tu cámara: necesita una conexión segura (https) y un navegador actualizado.
script-sign-in-expired = Tu sesión ha expirado.
script-not-on-list = Ya no estás en la lista de esta sala.
script-removed-rejoin = { $count ->
        [one] Un anfitrión te quitó de esta sala. Podrás volver a unirte dentro de { $minutes } minuto aproximadamente.
       *[other] Un anfitrión te quitó de esta sala. Podrás volver a unirte dentro de unos { $minutes } minutos.
    }
script-stale-page = Esta página está desactualizada. Recárgala para continuar.
script-rate-limited = { $count ->
        [one] Demasiadas solicitudes. Vuelve a intentarlo dentro de { $seconds } segundo.
       *[other] Demasiadas solicitudes. Vuelve a intentarlo dentro de { $seconds } segundos.
    }
script-token-http = No se pudo obtener un token de video (HTTP { $status }).
script-unreachable = No se pudo conectar con roomgate.
script-unmute-mic = Activar micrófono
script-camera-on = Encender cámara
script-left = Saliste de la sala.
script-disconnected = Desconectado.
script-duplicate = Te uniste a esta sala desde otra pestaña u otro dispositivo, así que esta se desconectó.
script-room-ended = La sala ha finalizado.
script-host-ended = Un anfitrión finalizó esta sala para todos.
script-host-removed = Un anfitrión te quitó de esta sala.
script-participant-joined = { $name } se unió a la sala.
script-participant-left = { $name } salió de la sala.
script-recording-started = La grabación comenzó.
script-recording-stopped = La grabación se detuvo.
script-reconnecting = Se perdió la conexión. Reconectando…
script-disconnected-long = Te desconectaste de la sala.
script-connected = Conectado a { $room }
script-video-unreachable = No se pudo conectar con el servicio de video. Revisa tu conexión y vuelve a intentarlo.
script-join-failed = No fue posible unirse a la sala (error { $code }).
script-not-connected = No conectado.
script-browser-unsupported = Este navegador no puede unirse a salas de video. Prueba con una versión actual de Chrome, Firefox, Safari o Edge.
script-sdk-missing = No se pudo cargar la biblioteca de video.
script-checking = Comprobando tu inicio de sesión…
script-local-signed-in = Sesión iniciada como { $name }. Modo local: no se conecta a ningún servicio de video.
script-connecting = Conectando a { $room }…
host-sign-in-expired = Tu sesión ha expirado. Recarga la página para volver a iniciar sesión.
host-only-hosts = Solo los anfitriones de esta sala pueden hacer eso.
host-failed = Algo salió mal ({ $status }).
host-no-video-service = No hay ningún servicio de video configurado (modo local).
host-video-unavailable = No se pudo conectar con el servicio de video.
host-busy = El servicio está saturado. Vuelve a intentarlo en unos momentos.
host-remove = Quitar
host-remove-label = Quitar a { $name } de la sala
host-nobody = No hay nadie conectado en este momento.
host-connected-count = { $count ->
        [one] { $n } persona conectada.
       *[other] { $n } personas conectadas.
    }
host-list-unreachable = No se pudo conectar con roomgate para obtener la lista de participantes.
host-confirm-remove = ¿Quitar a { $name } de la sala? No podrá volver a unirse durante 10 minutos.
host-removed = Se quitó a { $name } de la sala.
host-confirm-end = ¿Finalizar la sala para todos?

## The recordings page (hosts only).
recordings-heading = Grabaciones
recordings-intro = Grabaciones de la sala { $room }, guardadas en el almacenamiento del operador.
recordings-empty = Todavía no hay grabaciones.
recordings-date = Finalizó
recordings-duration = Duración
recordings-size = Tamaño
recordings-state = Estado
recordings-actions = Acciones
recordings-processing = En proceso
recordings-stored = Guardada
recordings-failed = Error: { $reason }
recordings-failed-in-time = Error: Twilio no terminó de componerla a tiempo.
recordings-failed-composition = Error: Twilio no pudo componerla.
recordings-failed-deleted = Error: la copia de Twilio se eliminó antes de guardarse.
recordings-failed-gave-up = Error: no se pudo sacar de Twilio tras varios intentos.
recordings-play = Reproducir
recordings-download = Descargar
recordings-player-label = Grabación que terminó el { $ended }
recordings-close = Cerrar el reproductor
recordings-link-note = Cada enlace funciona durante { $seconds } segundos y queda registrado en el registro de auditoría.
recordings-link-failed = No se pudo crear el enlace.
recordings-play-failed = No se pudo reproducir la grabación.
recordings-back = Volver a la sala
recordings-only-hosts = Solo los anfitriones de esta sala pueden ver sus grabaciones.
recordings-busy = No se pueden mostrar las grabaciones en este momento. Inténtalo de nuevo en un minuto.
host-recordings = Grabaciones
host-recording-started = Grabación iniciada. Todos en la sala ven que se está grabando.
host-recording-stopped = Grabación detenida.
host-recording-not-allowed = La configuración de esta sala no permite que los anfitriones inicien ni detengan la grabación.
## Passkeys

passkey-offer = La próxima vez, inicia sesión con una llave de acceso: sin código.
passkey-offer-add = Añadir una llave de acceso
passkey-offer-dismiss = Ahora no
passkey-heading = Tus llaves de acceso
passkey-added = Llave de acceso añadida. La próxima vez, elige «Usar una llave de acceso».
passkey-failed = No se añadió la llave de acceso.
passkey-add-needs-code = Para añadir otra llave de acceso, inicia sesión con un código.
passkey-item = Llave de acceso añadida el
passkey-remove = Quitar
passkey-removed = Llave de acceso quitada.
passkey-none = Aún no tienes llaves de acceso.
