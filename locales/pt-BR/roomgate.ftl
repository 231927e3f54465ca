# Mensagens do roomgate em português do Brasil. As chaves e as variáveis são as do
# catálogo em inglês (locales/en/roomgate.ftl), que é a referência.

## Todas as páginas

language-menu = Idioma
skip-to-content = Ir para o conteúdo

## Links e botões comuns

action-try-again = Tentar novamente
action-start-again = Começar de novo
action-back-to-code = Voltar ao código
action-back-to-start = Voltar ao início

## Página inicial

home-title = Entrar em uma sala
home-heading = Entrar em uma sala de vídeo
home-hint = Digite o nome da sala que está no seu convite.
home-room-label = Nome da sala
home-continue = Continuar
home-room-invalid = Os nomes de sala usam letras minúsculas, números e hifens, como “team-standup”.
home-room-missing = Digite o nome da sala que está no seu convite.
title-error = Erro: { $title }

## Formulário para entrar em uma sala

join-heading = Entrar em { $room }
join-hint = Digite seu nome de usuário. Se você estiver na lista desta sala, enviaremos um código de uso único por SMS para o seu celular.
join-may-be-recorded = Esta sala pode ser gravada. Enquanto estiver sendo gravada, todos nela veem o aviso “Gravando”.
join-username-label = Nome de usuário
join-submit = Receber um código
join-passkey = Usar uma chave de acesso

## Página do código

code-title = Digite seu código
code-sent = Se você estiver na lista desta sala, enviamos um código por SMS para você.
code-label = Código de uso único
code-submit = Verificar
code-format = Digite o código do SMS: apenas números.
code-wrong = Esse código não está correto ou não foi enviado para você. { $count ->
        [one] Resta { $count } tentativa.
       *[other] Restam { $count } tentativas.
    }
code-resend = Enviar um novo código
code-resend-wait = { $count ->
        [one] Você poderá pedir um novo código em { $n } segundo.
       *[other] Você poderá pedir um novo código em { $n } segundos.
    }
code-resend-ready = Você já pode pedir um novo código.
code-calling = Se você está na lista desta sala e pode receber códigos por chamada, estamos ligando para você agora. Se nenhuma chamada chegar, use o código do SMS.
code-call = Prefiro receber uma ligação
code-call-hint = Não recebeu o SMS? Podemos ler um código para você em uma ligação, se o anfitrião permitiu ligações para você.
code-missing-hint = Nenhum código depois de alguns minutos? Peça ao anfitrião desta sala para conferir o número que ele tem de você.

## Avisos: por que o acesso não pode continuar

notice-too-many-attempts-title = Tentativas demais
notice-limited-title = Aguarde um momento
notice-too-many-attempts = Essa foi a última tentativa para este código. Comece de novo para receber outro.
notice-too-many-sends-title = Códigos demais solicitados
notice-too-many-sends = Foram solicitados códigos demais. Aguarde cerca de 10 minutos e comece de novo.
notice-expired-title = Este código expirou
notice-expired = Os códigos são válidos por 10 minutos. Comece de novo para receber outro.
notice-cannot-send-title = Não foi possível enviar um código
notice-cannot-send = Não foi possível enviar uma mensagem de texto para o número da lista. Entre em contato com o anfitrião desta sala.
notice-busy-title = Serviço sobrecarregado
notice-unavailable = O serviço de verificação está sobrecarregado ou indisponível no momento. Tente novamente daqui a um minuto.
logout-unavailable = Não foi possível confirmar a saída agora. Tente novamente daqui a um minuto.
notice-locked-out-title = Acesso bloqueado
notice-limited = Houve tentativas demais. Tente novamente { $wait }.
notice-resend-wait = Um novo código poderá ser enviado { $wait }.
notice-locked-out = Depois de várias tentativas de acesso sem sucesso, o acesso fica bloqueado por um tempo. Tente novamente { $wait }.
notice-busy = Não podemos enviar códigos agora por causa da alta demanda. Tente novamente { $wait }.

wait-a-second = em um segundo
wait-seconds = { $n ->
        [one] em { $n } segundo
       *[other] em { $n } segundos
    }
wait-about-a-minute = em cerca de um minuto
wait-minutes = { $n ->
        [one] em cerca de { $n } minuto
       *[other] em cerca de { $n } minutos
    }
wait-hours = { $n ->
        [one] em cerca de { $n } hora
       *[other] em cerca de { $n } horas
    }

## Páginas de erro

error-form-expired-title = Este formulário expirou
error-form-expired = Para sua segurança, este formulário só pode ser enviado da página que o exibiu. Volte, recarregue a página e tente novamente.
error-unreadable-title = Não foi possível ler o envio
error-unreadable = O que foi enviado não corresponde ao que este formulário envia. Volte, recarregue a página e tente novamente.
error-not-found-title = Página não encontrada
error-not-found = Não há nenhuma página neste endereço.
error-method-title = Esta não é uma página para abrir
error-method = Este endereço é para os formulários e scripts do próprio site, não para ser aberto no navegador.
error-link-refused-title = Este link expirou
error-link-refused = Os links para gravações funcionam só por pouco tempo. Volte à página de gravações e abra a gravação de novo.
error-unexpected-title = Algo deu errado
error-unexpected = Tente novamente daqui a pouco.

## A página da sala

room-heading = Sala { $room }
room-signed-in-as = Conectado como { $name }
room-sign-out = Sair
room-loading = Carregando…
room-recording = Gravando
room-mute-mic = Desativar microfone
room-camera-off = Desligar câmera
room-rejoin = Voltar à sala
room-leave = Sair da sala
room-local-mode = Modo local: nenhum serviço de vídeo está configurado, então ninguém mais pode entrar e a conexão com a sala vai falhar. A prévia da sua câmera continua funcionando.
room-sign-in-again = Fazer login novamente
room-retry = Tentar novamente
room-camera-off-label = Câmera desligada
room-no-video = Sem vídeo
room-you = { $name } (você)
room-participants = Participantes
room-waiting = Ainda não tem mais ninguém aqui.
room-needs-js = Esta página precisa de JavaScript para entrar na sala de vídeo.
host-heading = Controles do anfitrião
host-loading = Carregando a lista de participantes…
host-end-room = Encerrar a sala para todos
host-recording-start = Iniciar gravação
host-recording-stop = Parar gravação

## Os scripts da página da sala (static/room.js, static/host.js)

script-reload = Recarregar
script-camera-denied = O acesso à câmera e ao microfone foi negado. Permita o acesso nas configurações do site no seu navegador e recarregue a página.
script-no-device = Nenhuma câmera ou microfone foi encontrado. Conecte um e recarregue a página.
script-device-busy = Sua câmera ou seu microfone está sendo usado por outro aplicativo. Feche esse aplicativo e recarregue a página.
script-camera-failed = Não foi possível iniciar sua câmera.
script-camera-failed-named = Não foi possível iniciar sua câmera ({ $error }).
script-no-mic = Não foi possível usar seu microfone, então os outros não vão ouvir você.
script-no-camera = Não foi possível usar sua câmera, então os outros não vão ver você.
script-starting-camera = Iniciando sua câmera…
script-needs-https = Esta página não pode usar sua câmera: ela precisa de uma conexão segura (https) e de um navegador atualizado.
script-sign-in-expired = Seu login expirou.
script-not-on-list = Você não está mais na lista desta sala.
script-removed-rejoin = { $count ->
        [one] Um anfitrião removeu você desta sala. Você poderá voltar em cerca de { $minutes } minuto.
       *[other] Um anfitrião removeu você desta sala. Você poderá voltar em cerca de { $minutes } minutos.
    }
script-stale-page = Esta página está desatualizada. Recarregue-a para continuar.
script-rate-limited = { $count ->
        [one] Solicitações demais. Tente novamente em { $seconds } segundo.
       *[other] Solicitações demais. Tente novamente em { $seconds } segundos.
    }
script-token-http = Não foi possível obter um token de vídeo (HTTP { $status }).
script-unreachable = Não foi possível acessar o roomgate.
script-unmute-mic = Ativar microfone
script-camera-on = Ligar câmera
script-left = Você saiu da sala.
script-disconnected = Desconectado.
script-duplicate = Você entrou nesta sala por outra aba ou outro dispositivo, então esta conexão foi encerrada.
script-room-ended = A sala foi encerrada.
script-host-ended = Um anfitrião encerrou esta sala para todos.
script-host-removed = Um anfitrião removeu você desta sala.
script-participant-joined = { $name } entrou na sala.
script-participant-left = { $name } saiu da sala.
script-recording-started = A gravação começou.
script-recording-stopped = A gravação parou.
script-reconnecting = Conexão perdida. Reconectando…
script-disconnected-long = Você foi desconectado da sala.
script-connected = Conectado a { $room }
script-video-unreachable = Não foi possível acessar o serviço de vídeo. Verifique sua conexão e tente novamente.
script-join-failed = Não foi possível entrar na sala (erro { $code }).
script-not-connected = Não conectado.
script-browser-unsupported = Este navegador não consegue entrar em salas de vídeo. Use uma versão atual do Chrome, Firefox, Safari ou Edge.
script-sdk-missing = Não foi possível carregar a biblioteca de vídeo.
script-checking = Verificando seu login…
script-local-signed-in = Conectado como { $name }. Modo local: sem conexão com um serviço de vídeo.
script-connecting = Conectando a { $room }…
host-sign-in-expired = Seu login expirou. Recarregue a página para entrar novamente.
host-only-hosts = Só os anfitriões desta sala podem fazer isso.
host-failed = Algo deu errado ({ $status }).
host-no-video-service = Nenhum serviço de vídeo está configurado (modo local).
host-video-unavailable = Não foi possível acessar o serviço de vídeo.
host-busy = O serviço está sobrecarregado. Tente novamente em instantes.
host-remove = Remover
host-remove-label = Remover { $name } da sala
host-nobody = Ninguém está conectado no momento.
host-connected-count = { $count ->
        [one] { $n } pessoa conectada.
       *[other] { $n } pessoas conectadas.
    }
host-list-unreachable = Não foi possível acessar o roomgate para listar os participantes.
host-confirm-remove = Remover { $name } da sala? Essa pessoa não poderá voltar por 10 minutos.
host-removed = { $name } foi removido da sala.
host-confirm-end = Encerrar a sala para todos?

## The recordings page (hosts only).
recordings-heading = Gravações
recordings-intro = Gravações da sala { $room }, guardadas no armazenamento do operador.
recordings-empty = Ainda não há gravações.
recordings-date = Término
recordings-duration = Duração
recordings-size = Tamanho
recordings-state = Situação
recordings-actions = Ações
recordings-processing = Em processamento
recordings-stored = Armazenada
recordings-failed = Falhou: { $reason }
recordings-failed-in-time = Falhou: o Twilio não terminou de compô-la a tempo.
recordings-failed-composition = Falhou: o Twilio não conseguiu compô-la.
recordings-failed-deleted = Falhou: a cópia do Twilio foi apagada antes de ser guardada.
recordings-failed-gave-up = Falhou: não foi possível tirá-la do Twilio, após várias tentativas.
recordings-play = Reproduzir
recordings-download = Baixar
recordings-player-label = Gravação encerrada em { $ended }
recordings-close = Fechar o player
recordings-link-note = Cada link funciona por { $seconds } segundos e fica registrado no log de auditoria.
recordings-link-failed = Não foi possível criar o link.
recordings-play-failed = Não foi possível reproduzir a gravação.
recordings-back = Voltar para a sala
recordings-only-hosts = Somente anfitriões desta sala podem ver as gravações.
recordings-busy = Não é possível listar as gravações agora. Tente novamente em um minuto.
host-recordings = Gravações
host-recording-started = Gravação iniciada. Todos na sala veem que ela está sendo gravada.
host-recording-stopped = Gravação parada.
host-recording-not-allowed = As configurações desta sala não permitem que anfitriões iniciem ou parem a gravação.
## Passkeys

passkey-offer = Na próxima vez, entre com uma chave de acesso: sem código.
passkey-offer-add = Adicionar uma chave de acesso
passkey-offer-dismiss = Agora não
passkey-heading = Suas chaves de acesso
passkey-added = Chave de acesso adicionada. Na próxima vez, escolha “Usar uma chave de acesso”.
passkey-failed = A chave de acesso não foi adicionada.
passkey-add-needs-code = Para adicionar outra chave de acesso, entre com um código.
passkey-item = Chave de acesso adicionada em
passkey-remove = Remover
passkey-removed = Chave de acesso removida.
passkey-none = Você ainda não tem chaves de acesso.
