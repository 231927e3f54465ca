# Messages de roomgate en français. Les clés et les variables sont celles du
# catalogue anglais (locales/en/roomgate.ftl), qui sert de référence.

## Toutes les pages

language-menu = Langue
skip-to-content = Aller au contenu

## Liens et boutons communs

action-try-again = Réessayer
action-start-again = Recommencer
action-back-to-code = Retour au code
action-back-to-start = Retour à l’accueil

## Page d’accueil

home-title = Rejoindre une salle
home-heading = Rejoindre une salle vidéo
home-hint = Saisissez le nom de la salle indiqué dans votre invitation.
home-room-label = Nom de la salle
home-continue = Continuer
home-room-invalid = Les noms de salle se composent de lettres minuscules, de chiffres et de tirets, par exemple « team-standup ».
home-room-missing = Saisissez le nom de la salle indiqué dans votre invitation.
title-error = Erreur : { $title }

## Formulaire de connexion à une salle

join-heading = Rejoindre { $room }
join-hint = Saisissez votre nom d’utilisateur. Si vous figurez sur la liste de cette salle, nous enverrons un code à usage unique par SMS sur votre téléphone.
join-may-be-recorded = Cette salle peut être enregistrée. Pendant l’enregistrement, chacun y voit l’indication « Enregistrement ».
join-username-label = Nom d’utilisateur
join-submit = M’envoyer un code
join-passkey = Utiliser une clé d’accès

## Page du code

code-title = Saisissez votre code
code-sent = Si vous figurez sur la liste de cette salle, nous vous avons envoyé un code par SMS.
code-label = Code à usage unique
code-submit = Valider
code-format = Saisissez le code reçu par SMS : uniquement des chiffres.
code-wrong = Ce code n’est pas le bon, ou il ne vous a pas été envoyé. { $count ->
        [one] Il vous reste { $count } tentative.
       *[other] Il vous reste { $count } tentatives.
    }
code-resend = Envoyer un nouveau code
code-resend-wait = { $count ->
        [one] Vous pourrez demander un nouveau code dans { $n } seconde.
       *[other] Vous pourrez demander un nouveau code dans { $n } secondes.
    }
code-resend-ready = Vous pouvez maintenant demander un nouveau code.
code-calling = Si vous figurez sur la liste de cette salle et pouvez recevoir les codes par appel, nous vous appelons maintenant. Si aucun appel n’arrive, utilisez le code reçu par SMS.
code-call = M’appeler plutôt
code-call-hint = Pas de SMS ? Nous pouvons vous lire un code au téléphone, si l’hôte a autorisé les appels pour vous.
code-missing-hint = Toujours pas de code après quelques minutes ? Demandez à l’hôte de cette salle de vérifier le numéro qu’il a pour vous.

## Avis : pourquoi la connexion ne peut pas continuer

notice-too-many-attempts-title = Trop de tentatives
notice-limited-title = Veuillez patienter
notice-too-many-attempts = C’était la dernière tentative pour ce code. Recommencez pour en obtenir un nouveau.
notice-too-many-sends-title = Trop de codes demandés
notice-too-many-sends = Trop de codes ont été demandés. Patientez environ 10 minutes, puis recommencez.
notice-expired-title = Ce code a expiré
notice-expired = Les codes sont valables 10 minutes. Recommencez pour en obtenir un nouveau.
notice-cannot-send-title = Impossible d’envoyer un code
notice-cannot-send = Nous n’avons pas pu envoyer de SMS au numéro figurant sur la liste. Veuillez contacter l’hôte de cette salle.
notice-busy-title = Service surchargé
notice-unavailable = Le service de vérification est surchargé ou injoignable pour le moment. Veuillez réessayer dans une minute.
logout-unavailable = La déconnexion n’a pas pu être confirmée pour le moment. Veuillez réessayer dans une minute.
notice-locked-out-title = Connexion bloquée
notice-limited = Il y a eu trop de tentatives. Réessayez { $wait }.
notice-resend-wait = Un nouveau code pourra être envoyé { $wait }.
notice-locked-out = Après plusieurs échecs de connexion, la connexion est bloquée pendant un moment. Réessayez { $wait }.
notice-busy = Nous ne pouvons pas envoyer de codes pour le moment en raison d’une forte demande. Réessayez { $wait }.

wait-a-second = dans une seconde
wait-seconds = { $n ->
        [one] dans { $n } seconde
       *[other] dans { $n } secondes
    }
wait-about-a-minute = dans environ une minute
wait-minutes = { $n ->
        [one] dans environ { $n } minute
       *[other] dans environ { $n } minutes
    }
wait-hours = { $n ->
        [one] dans environ { $n } heure
       *[other] dans environ { $n } heures
    }

## Pages d’erreur

error-form-expired-title = Ce formulaire a expiré
error-form-expired = Pour votre sécurité, ce formulaire ne peut être envoyé que depuis la page qui l’a affiché. Revenez en arrière, rechargez la page et réessayez.
error-unreadable-title = Envoi illisible
error-unreadable = Ce qui a été envoyé ne correspond pas à ce que ce formulaire envoie. Revenez en arrière, rechargez la page et réessayez.
error-not-found-title = Page introuvable
error-not-found = Il n’y a aucune page à cette adresse.
error-method-title = Cette page ne s’ouvre pas ainsi
error-method = Cette adresse sert aux formulaires et aux scripts du site, pas à être ouverte dans un navigateur.
error-link-refused-title = Ce lien a expiré
error-link-refused = Les liens vers les enregistrements ne fonctionnent que peu de temps. Revenez à la page des enregistrements et ouvrez à nouveau l’enregistrement.
error-unexpected-title = Une erreur s’est produite
error-unexpected = Veuillez réessayer dans un instant.

## La page de la salle

room-heading = Salle { $room }
room-signed-in-as = Connecté en tant que { $name }
room-sign-out = Se déconnecter
room-loading = Chargement…
room-recording = Enregistrement
room-mute-mic = Couper le micro
room-camera-off = Désactiver la caméra
room-rejoin = Rejoindre à nouveau
room-leave = Quitter
room-local-mode = Mode local : aucun service vidéo n’est configuré, donc personne d’autre ne peut rejoindre la salle et la connexion à la salle échouera. L’aperçu de votre caméra fonctionne quand même.
room-sign-in-again = Se reconnecter
room-retry = Réessayer
room-camera-off-label = Caméra désactivée
room-no-video = Pas de vidéo
room-you = { $name } (vous)
room-participants = Participants
room-waiting = Personne d’autre n’est encore arrivé.
room-needs-js = Cette page a besoin de JavaScript pour rejoindre la salle vidéo.
host-heading = Commandes de l’hôte
host-loading = Chargement de la liste des participants…
host-end-room = Fermer la salle pour tout le monde
host-recording-start = Lancer l’enregistrement
host-recording-stop = Arrêter l’enregistrement

## Les scripts de la page de la salle (static/room.js, static/host.js)

script-reload = Recharger
script-camera-denied = L’accès à la caméra et au micro a été refusé. Autorisez-le dans les paramètres du site de votre navigateur, puis rechargez la page.
script-no-device = Aucune caméra ni aucun micro n’a été trouvé. Branchez-en un, puis rechargez la page.
script-device-busy = Votre caméra ou votre micro est utilisé par une autre application. Fermez-la, puis rechargez la page.
script-camera-failed = Impossible de démarrer votre caméra.
script-camera-failed-named = Impossible de démarrer votre caméra ({ $error }).
script-no-mic = Votre micro n’a pas pu être utilisé : les autres ne vous entendront pas.
script-no-camera = Votre caméra n’a pas pu être utilisée : les autres ne vous verront pas.
script-starting-camera = Démarrage de votre caméra…
script-needs-https = Cette page ne peut pas utiliser votre caméra : il faut une connexion sécurisée (https) et un navigateur à jour.
script-sign-in-expired = Votre connexion a expiré.
script-not-on-list = Vous ne figurez plus sur la liste de cette salle.
script-removed-rejoin = { $count ->
        [one] Un hôte vous a retiré de cette salle. Vous pourrez la rejoindre dans environ { $minutes } minute.
       *[other] Un hôte vous a retiré de cette salle. Vous pourrez la rejoindre dans environ { $minutes } minutes.
    }
script-stale-page = Cette page n’est plus à jour. Rechargez-la pour continuer.
script-rate-limited = { $count ->
        [one] Trop de requêtes. Réessayez dans { $seconds } seconde.
       *[other] Trop de requêtes. Réessayez dans { $seconds } secondes.
    }
script-token-http = Impossible d’obtenir un jeton vidéo (HTTP { $status }).
script-unreachable = Impossible de joindre roomgate.
script-unmute-mic = Réactiver le micro
script-camera-on = Activer la caméra
script-left = Vous avez quitté la salle.
script-disconnected = Déconnecté.
script-duplicate = Vous avez rejoint cette salle depuis un autre onglet ou un autre appareil, celui-ci a donc été déconnecté.
script-room-ended = La salle a été fermée.
script-host-ended = Un hôte a fermé cette salle pour tout le monde.
script-host-removed = Un hôte vous a retiré de cette salle.
script-participant-joined = { $name } a rejoint la salle.
script-participant-left = { $name } a quitté la salle.
script-recording-started = L’enregistrement a commencé.
script-recording-stopped = L’enregistrement est arrêté.
script-reconnecting = Connexion perdue. Reconnexion…
script-disconnected-long = Vous avez été déconnecté de la salle.
script-connected = Connecté à { $room }
script-video-unreachable = Le service vidéo est injoignable. Vérifiez votre connexion, puis réessayez.
script-join-failed = Impossible de rejoindre la salle (erreur { $code }).
script-not-connected = Non connecté.
script-browser-unsupported = Ce navigateur ne peut pas rejoindre de salle vidéo. Essayez une version récente de Chrome, Firefox, Safari ou Edge.
script-sdk-missing = La bibliothèque vidéo n’a pas pu être chargée.
script-checking = Vérification de votre connexion…
script-local-signed-in = Connecté en tant que { $name }. Mode local : pas de connexion à un service vidéo.
script-connecting = Connexion à { $room }…
host-sign-in-expired = Votre connexion a expiré. Rechargez la page pour vous reconnecter.
host-only-hosts = Seuls les hôtes de cette salle peuvent faire cela.
host-failed = Une erreur s’est produite ({ $status }).
host-no-video-service = Aucun service vidéo n’est configuré (mode local).
host-video-unavailable = Le service vidéo est injoignable.
host-busy = Le service est surchargé. Veuillez réessayer dans un instant.
host-remove = Retirer
host-remove-label = Retirer { $name } de la salle
host-nobody = Personne n’est connecté pour le moment.
host-connected-count = { $count ->
        [one] { $n } personne connectée.
       *[other] { $n } personnes connectées.
    }
host-list-unreachable = Impossible de joindre roomgate pour obtenir la liste des participants.
host-confirm-remove = Retirer { $name } de la salle ? Cette personne ne pourra pas revenir pendant 10 minutes.
host-removed = { $name } a été retiré de la salle.
host-confirm-end = Fermer la salle pour tout le monde ?

## The recordings page (hosts only).
recordings-heading = Enregistrements
recordings-intro = Enregistrements de la salle { $room }, conservés dans le stockage de l'opérateur.
recordings-empty = Aucun enregistrement pour l'instant.
recordings-date = Fin
recordings-duration = Durée
recordings-size = Taille
recordings-state = État
recordings-actions = Actions
recordings-processing = En cours de traitement
recordings-stored = Stocké
recordings-failed = Échec : { $reason }
recordings-failed-in-time = Échec : Twilio n'a pas fini de la composer à temps.
recordings-failed-composition = Échec : Twilio n'a pas pu la composer.
recordings-failed-deleted = Échec : la copie de Twilio a été supprimée avant d'être stockée.
recordings-failed-gave-up = Échec : elle n'a pas pu être retirée de Twilio, malgré plusieurs tentatives.
recordings-play = Lire
recordings-download = Télécharger
recordings-player-label = Enregistrement terminé le { $ended }
recordings-close = Fermer le lecteur
recordings-link-note = Chaque lien fonctionne pendant { $seconds } secondes et est consigné dans le journal d'audit.
recordings-link-failed = Le lien n'a pas pu être créé.
recordings-play-failed = L'enregistrement n'a pas pu être lu.
recordings-back = Retour à la salle
recordings-only-hosts = Seuls les hôtes de cette salle peuvent voir ses enregistrements.
recordings-busy = Impossible d'afficher les enregistrements pour le moment. Réessayez dans une minute.
host-recordings = Enregistrements
host-recording-started = Enregistrement lancé. Tout le monde dans la salle voit qu’elle est enregistrée.
host-recording-stopped = Enregistrement arrêté.
host-recording-not-allowed = Les réglages de cette salle ne permettent pas aux hôtes de lancer ou d’arrêter l’enregistrement.
## Passkeys

passkey-offer = La prochaine fois, connectez-vous avec une clé d’accès : sans code.
passkey-offer-add = Ajouter une clé d’accès
passkey-offer-dismiss = Pas maintenant
passkey-heading = Vos clés d’accès
passkey-added = Clé d’accès ajoutée. La prochaine fois, choisissez « Utiliser une clé d’accès ».
passkey-failed = La clé d’accès n’a pas été ajoutée.
passkey-add-needs-code = Pour ajouter une autre clé d’accès, connectez-vous avec un code.
passkey-item = Clé d’accès ajoutée le
passkey-remove = Retirer
passkey-removed = Clé d’accès retirée.
passkey-none = Vous n’avez pas encore de clé d’accès.
