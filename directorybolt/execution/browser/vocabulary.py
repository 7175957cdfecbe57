"""Words that are not field names, per language: consent and opt-in checkboxes,
Next/Back/Submit/Reset buttons, free options, login prompts, confirmation twins.

Same languages and phrase rules as :mod:`synonyms` (``*`` a prefix, ``=`` the whole text).
"""

from __future__ import annotations

import re
from functools import cache

from directorybolt.execution.browser.synonyms import Table, compile_table, fold

#: Word lists for things that are not fields, per language.
WORDS: Table = {
    "consent": {
        "en": ("agree", "accept", "terms", "conditions", "privacy", "policy", "consent", "gdpr", "tos",
               "i confirm"),
        "es": ("acepto", "aceptar", "términos", "condiciones", "privacidad", "consiento"),
        "fr": ("j accepte", "accepte", "conditions", "confidentialité", "consens"),
        "de": ("akzeptiere", "zustimmen", "stimme", "agb", "datenschutz", "nutzungsbedingungen", "einverstanden"),
        "pt": ("concordo", "aceito", "termos", "condições", "privacidade"),
        "zh": ("同意", "条款", "隐私", "接受"),
        "hu": ("elfogadom", "feltételek", "adatvédelmi", "hozzájárulok", "egyetértek"),
    },
    "opt_in": {
        "en": ("newsletter", "subscribe", "marketing", "offers", "promotion*", "updates", "news", "partners",
               "special deals", "email me", "send me"),
        "es": ("boletín", "suscribir*", "ofertas", "publicidad", "novedades"),
        "fr": ("lettre d information", "infolettre", "abonner", "offres", "promotion*", "actualités"),
        "de": ("newsletter", "abonnieren", "angebote", "werbung", "neuigkeiten"),
        "pt": ("boletim", "assinar", "ofertas", "promoç*", "novidades"),
        "zh": ("订阅", "促销", "营销", "新闻"),
        "hu": ("hírlevél", "feliratkoz*", "ajánlat*", "reklám"),
    },
    "next": {
        "en": ("next", "continue", "next step", "proceed", "forward"),
        "es": ("siguiente", "continuar", "próximo"),
        "fr": ("suivant", "continuer", "étape suivante"),
        "de": ("weiter", "nächster schritt", "fortfahren"),
        "pt": ("próximo", "seguinte", "continuar", "avançar"),
        "zh": ("下一步", "继续"),
        "hu": ("tovább", "következő", "folytatás"),
    },
    "back": {
        "en": ("back", "previous", "prev"), "es": ("anterior", "atrás", "volver"), "fr": ("précédent", "retour"),
        "de": ("zurück",), "pt": ("anterior", "voltar"), "zh": ("上一步", "返回"), "hu": ("vissza", "előző"),
    },
    "submit": {
        "en": ("submit", "send", "add", "list", "publish", "register", "save", "create", "sign up", "post",
               "finish", "complete", "apply", "request", "join", "get listed"),
        "es": ("enviar", "publicar", "registrar*", "guardar", "añadir", "agregar"),
        "fr": ("envoyer", "soumettre", "publier", "enregistrer", "ajouter", "valider", "inscri*"),
        "de": ("absenden", "senden", "eintragen", "veröffentlichen", "speichern", "registrieren", "hinzufügen"),
        "pt": ("enviar", "publicar", "cadastrar", "registrar", "salvar", "adicionar"),
        "zh": ("提交", "发送", "注册", "发布", "保存"),
        "hu": ("küldés", "elküld*", "beküld*", "regisztráció", "mentés", "hozzáadás", "közzététel"),
    },
    "reset": {
        "en": ("reset", "clear", "clear form", "cancel", "delete", "remove", "start over"),
        "es": ("borrar", "limpiar", "restablecer", "cancelar"),
        "fr": ("effacer", "réinitialiser", "annuler", "vider"),
        "de": ("zurücksetzen", "löschen", "leeren", "abbrechen"),
        "pt": ("limpar", "apagar", "redefinir", "cancelar"),
        "zh": ("重置", "清除", "清空", "取消"),
        "hu": ("törlés", "visszaállítás", "mégse"),
    },
    "confirm": {
        "en": ("confirm", "repeat", "re enter", "retype", "verify", "again"),
        "es": ("confirmar", "repetir"), "fr": ("confirmer", "confirmation", "répéter"),
        "de": ("bestätigen", "wiederholen", "bestätigung"), "pt": ("confirmar", "repetir", "confirmação"),
        "zh": ("确认", "再次"), "hu": ("megerősít*", "újra", "ismét"),
    },
    "secondary": {
        "en": ("2", "second", "secondary", "alternative", "alternate", "additional", "another", "backup", "other"),
        "es": ("2", "segundo", "secundario", "alternativo", "adicional", "otro"),
        "fr": ("2", "second", "secondaire", "autre", "supplémentaire"),
        "de": ("2", "zweite*", "weitere*", "alternative"),
        "pt": ("2", "segundo", "secundário", "alternativo", "adicional", "outro"),
        "zh": ("备用", "其他", "第二"),
        "hu": ("2", "második", "további", "másik"),
    },
    "free": {
        "en": ("free", "no cost", "basic", "0", "none", "no thanks", "standard listing"),
        "es": ("gratis", "gratuito", "gratuita", "sin costo"),
        "fr": ("gratuit", "gratuite", "sans frais"),
        "de": ("kostenlos", "gratis", "kostenfrei"),
        "pt": ("grátis", "gratuito", "gratuita", "sem custo"),
        "zh": ("免费",),
        "hu": ("ingyenes", "díjmentes"),
    },
    "login": {
        "en": ("log in", "login", "sign in", "create an account", "create account", "register to", "members only"),
        "es": ("iniciar sesión", "crear una cuenta", "regístrate"),
        "fr": ("se connecter", "connexion", "créer un compte"),
        "de": ("anmelden", "einloggen", "konto erstellen"),
        "pt": ("entrar", "iniciar sessão", "criar conta", "fazer login"),
        "zh": ("登录", "注册账号"),
        "hu": ("bejelentkezés", "fiók létrehozása"),
    },
}


@cache
def _words() -> list[tuple[str, str, str, re.Pattern[str]]]:
    return compile_table(WORDS)


def has_word(kind: str, text: str) -> bool:
    """Whether ``text`` contains one of the :data:`WORDS` of ``kind`` (e.g. ``"consent"``)."""
    folded = fold(text)
    return bool(folded) and any(
        key == kind and pattern.search(folded) for key, _, _, pattern in _words()
    )
