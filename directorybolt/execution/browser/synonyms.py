"""What a form's words mean, per language: the mapper's vocabulary.

Labels, placeholders, ``name``/``id`` attributes and button texts are folded (lower
case, accents removed, camelCase and punctuation split into words) and matched against
phrases here. Keys that are business fields get filled; the other keys are recognised
so that an input is not mistaken for something else ("Industry" is not the category,
"Address line 2" is not the address) and so that a required one we cannot answer
sends the form to review instead of being guessed.

Languages: English, Spanish, French, German, Portuguese, Chinese, Hungarian. A phrase
ending in ``*`` matches any word starting with it; one starting with ``=`` matches only
a text that says nothing else ("Company" is the business name, "Company email" is not);
one starting with ``~`` names its field less surely ("Mobile" loses to "Phone").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import cache

Table = dict[str, dict[str, tuple[str, ...]]]

FIELDS: Table = {
    "captcha": {
        "en": ("captcha", "security code", "verification code", "are you human", "anti spam question", "spam check",
               "not a robot", "human verification", "math question", "security question"),
        "es": ("código de seguridad", "código de verificación"),
        "fr": ("code de sécurité", "code de vérification"),
        "de": ("sicherheitscode", "prüfcode", "spamschutz"),
        "pt": ("código de segurança", "código de verificação"),
        "zh": ("验证码",),
        "hu": ("biztonsági kód", "ellenőrző kód"),
    },
    "password": {
        "en": ("password", "passcode", "pwd"),
        "es": ("contraseña", "clave"),
        "fr": ("mot de passe",),
        "de": ("passwort", "kennwort"),
        "pt": ("senha", "palavra passe"),
        "zh": ("密码",),
        "hu": ("jelszó",),
    },
    "username": {
        "en": ("username", "user name", "login name", "user id"),
        "es": ("nombre de usuario", "usuario"),
        "fr": ("nom d utilisateur", "identifiant"),
        "de": ("benutzername",),
        "pt": ("nome de usuário", "nome de utilizador", "usuário"),
        "zh": ("用户名",),
        "hu": ("felhasználónév",),
    },
    "search": {
        "en": ("search", "find", "keyword*"),
        "es": ("buscar", "búsqueda"),
        "fr": ("rechercher", "recherche"),
        "de": ("suche", "suchen"),
        "pt": ("pesquisar", "procurar", "busca"),
        "zh": ("搜索", "查找"),
        "hu": ("keresés", "kereső"),
    },
    "referral": {
        "en": ("how did you hear", "how did you find", "hear about us", "referral", "referred by"),
        "es": ("cómo nos conociste", "cómo se enteró"),
        "fr": ("comment avez vous connu",),
        "de": ("wie haben sie von uns",),
        "pt": ("como nos conheceu",),
        "zh": ("如何得知",),
        "hu": ("honnan hallott",),
    },
    "video": {"en": ("video*", "youtube", "vimeo", "video url"), "es": ("vídeo*",), "fr": ("vidéo*",),
              "de": ("video*",), "pt": ("vídeo*",), "zh": ("视频",), "hu": ("videó*",)},
    "social_facebook": {"en": ("facebook", "fb url", "facebook com")},
    "social_x": {"en": ("twitter", "x twitter", "x com", "twitter com", "x url", "x profile")},
    "social_instagram": {"en": ("instagram", "insta", "instagram com")},
    "social_linkedin": {"en": ("linkedin", "linked in", "linkedin com")},
    "logo_url": {
        "en": ("logo", "logo url", "image url", "photo url", "picture url", "image link", "logo link", "icon url"),
        "es": ("url del logo", "url de la imagen", "logotipo"),
        "fr": ("url du logo", "url de l image"),
        "de": ("logo url", "bild url", "bildlink"),
        "pt": ("url do logo", "url da imagem", "logotipo"),
        "zh": ("标志", "图片链接", "logo链接"),
        "hu": ("logó", "kép url", "kép link"),
    },
    "photo": {
        "en": ("photo*", "image*", "picture*", "upload*", "attachment*", "=file", "gallery"),
        "es": ("foto*", "imagen*", "subir"),
        "fr": ("photo*", "télécharger", "fichier"),
        "de": ("foto*", "bild*", "hochladen", "datei"),
        "pt": ("foto*", "imagem*", "enviar arquivo", "arquivo"),
        "zh": ("照片", "图片", "上传"),
        "hu": ("fénykép*", "kép", "képek", "feltöltés"),
    },
    "email": {
        "en": ("email", "e mail", "mail", "email address", "e mail address", "mail address", "your email"),
        "es": ("correo", "correo electrónico", "dirección de correo", "dirección de correo electrónico"),
        "fr": ("courriel", "adresse e mail", "adresse email", "adresse électronique", "mél"),
        "de": ("e mail adresse", "email adresse", "mailadresse"),
        "pt": ("endereço de email", "endereço de e mail", "correio eletrônico", "correio electrónico"),
        "zh": ("电子邮件", "邮箱", "电邮", "邮件地址"),
        "hu": ("e mail cím", "email cím", "levelezési cím"),
    },
    "phone": {
        "en": ("phone", "phone number", "telephone", "tel", "~mobile", "~cell", "~cell phone", "contact number"),
        "es": ("teléfono", "~móvil", "~celular", "número de teléfono"),
        "fr": ("téléphone", "~portable", "numéro de téléphone", "tél"),
        "de": ("telefon", "telefonnummer", "~handy", "rufnummer", "~mobilnummer"),
        "pt": ("telefone", "~telemóvel", "número de telefone"),
        "zh": ("电话", "~手机", "联系电话", "电话号码"),
        "hu": ("telefonszám", "~mobil", "telefon"),
    },
    "zip": {
        "en": ("zip", "zip code", "zipcode", "postal code", "postcode", "post code", "postal zip", "zip postal"),
        "es": ("código postal", "cp"),
        "fr": ("code postal",),
        "de": ("plz", "postleitzahl"),
        "pt": ("cep", "código postal"),
        "zh": ("邮编", "邮政编码"),
        "hu": ("irányítószám", "irsz"),
    },
    "address2": {
        "en": ("address line 2", "address 2", "address2", "apartment", "apt", "suite", "unit", "line 2"),
        "es": ("dirección 2", "piso", "departamento"),
        "fr": ("complément d adresse", "adresse 2"),
        "de": ("adresszusatz", "adresse 2"),
        "pt": ("complemento", "endereço 2"),
        "zh": ("地址2", "详细地址2"),
        "hu": ("cím 2",),
    },
    "website": {
        "en": ("website", "web site", "website url", "=url", "your url", "homepage", "home page", "site url",
               "web address", "=site", "your website", "company website", "business website", "=web"),
        "es": ("sitio web", "página web"),
        "fr": ("site web", "site internet"),
        "de": ("webseite", "internetseite", "internetadresse", "webadresse"),
        "pt": ("página da web", "endereço do site"),
        "zh": ("网站", "网址", "主页", "官网"),
        "hu": ("weboldal", "honlap", "webcím", "weblap"),
    },
    "tagline": {
        "en": ("tagline", "tag line", "slogan", "one liner", "one line pitch", "headline", "motto"),
        "es": ("eslogan", "lema"),
        "fr": ("accroche", "devise"),
        "de": ("werbeslogan", "kurzbeschreibung in einem satz"),
        "pt": ("slogan", "chamada"),
        "zh": ("标语", "口号", "宣传语"),
        "hu": ("szlogen", "jelmondat"),
    },
    "subcategory": {
        "en": ("subcategory", "sub category", "secondary category"),
        "es": ("subcategoría",),
        "fr": ("sous catégorie",),
        "de": ("unterkategorie",),
        "pt": ("subcategoria",),
        "zh": ("子类别", "子分类", "二级分类"),
        "hu": ("alkategória",),
    },
    "category": {
        "en": ("categor*", "business type", "type of business", "company type", "service type", "type of service",
               "primary category", "business category", "niche", "sector", "listing type", "genre"),
        "es": ("categor*", "tipo de negocio", "rubro"),
        "fr": ("catégorie", "type d entreprise", "secteur d activité"),
        "de": ("kategorie", "branche", "rubrik", "geschäftsart"),
        "pt": ("categoria", "tipo de negócio", "ramo"),
        "zh": ("类别", "分类", "类目", "行业类别", "业务类型"),
        "hu": ("kategória", "tevékenységi kör", "üzlet típusa"),
    },
    "industry": {"en": ("industry",), "es": ("industria",), "fr": ("industrie",), "de": ("industrie",),
                 "pt": ("indústria",), "zh": ("行业",), "hu": ("iparág",)},
    "pricing": {"en": ("pricing", "pricing model", "price model", "pricing summary", "pricing plan"),
                "es": ("modelo de precios",), "fr": ("modèle de prix",), "de": ("preismodell",),
                "pt": ("modelo de preço",), "zh": ("定价",), "hu": ("árazás",)},
    "price_range": {"en": ("price range", "prices", "price level", "budget"), "es": ("rango de precios",),
                    "fr": ("gamme de prix",), "de": ("preisspanne",), "pt": ("faixa de preço",),
                    "zh": ("价格范围",), "hu": ("árkategória",)},
    "plan": {"en": ("=plan", "listing plan", "package", "membership", "subscription", "listing level", "upgrade"),
             "es": ("paquete", "membresía"), "fr": ("forfait", "formule", "abonnement"),
             "de": ("paket", "tarif", "mitgliedschaft"), "pt": ("pacote", "plano", "assinatura"),
             "zh": ("套餐", "会员"), "hu": ("csomag", "előfizetés")},
    "hours": {"en": ("hours", "opening hours", "business hours", "opening times"), "es": ("horario",),
              "fr": ("horaires", "heures d ouverture"), "de": ("öffnungszeiten",), "pt": ("horário",),
              "zh": ("营业时间",), "hu": ("nyitvatartás",)},
    "rating": {"en": ("rating", "=stars", "=score"), "es": ("valoración", "calificación"), "fr": ("évaluation",),
               "de": ("bewertung",), "pt": ("avaliação", "nota"), "zh": ("评分",), "hu": ("értékelés",)},
    "company_size": {"en": ("company size", "employees", "number of employees", "team size", "staff"),
                     "es": ("empleados",), "fr": ("effectif", "employés"), "de": ("mitarbeiter",),
                     "pt": ("funcionários",), "zh": ("员工人数",), "hu": ("létszám",)},
    "tax_id": {"en": ("vat", "tax id", "vat number", "abn", "company number", "registration number"),
               "es": ("nif", "cif", "rfc"), "fr": ("siret", "siren", "tva"), "de": ("ust id", "steuernummer"),
               "pt": ("cnpj", "nif"), "zh": ("税号", "统一社会信用代码"), "hu": ("adószám", "cégjegyzékszám")},
    "city": {
        "en": ("city", "town", "city town", "town city", "primary city", "suburb"),
        "es": ("ciudad", "localidad", "municipio", "población"),
        "fr": ("ville", "commune", "localité"),
        "de": ("stadt", "ort", "wohnort", "gemeinde"),
        "pt": ("cidade", "município", "localidade"),
        "zh": ("城市", "所在城市"),
        "hu": ("város", "település", "helység"),
    },
    "state": {
        "en": ("state", "province", "county", "state province", "state region", "state county", "prefecture"),
        "es": ("provincia", "estado", "comunidad autónoma"),
        "fr": ("état", "province", "département"),
        "de": ("bundesland", "kanton"),
        "pt": ("estado", "província", "distrito"),
        "zh": ("省", "省份", "州", "省市"),
        "hu": ("megye",),
    },
    "country": {
        "en": ("country", "nation", "country region"),
        "es": ("país",),
        "fr": ("pays",),
        "de": ("land", "staat"),
        "pt": ("país",),
        "zh": ("国家", "国家地区"),
        "hu": ("ország",),
    },
    "region": {"en": ("region", "district", "area", "service area"), "es": ("región", "zona"),
               "fr": ("région", "zone"), "de": ("region", "bezirk"), "pt": ("região", "zona"),
               "zh": ("地区", "区域"), "hu": ("régió", "körzet")},
    "address": {
        "en": ("address", "street", "street address", "address line 1", "address 1", "business address",
               "postal address", "mailing address"),
        "es": ("dirección", "domicilio", "calle"),
        "fr": ("adresse", "rue", "adresse postale"),
        "de": ("adresse", "straße", "strasse", "anschrift", "straße und hausnummer"),
        "pt": ("endereço", "morada", "rua"),
        "zh": ("地址", "街道", "详细地址"),
        "hu": ("cím", "utca", "utca házszám"),
    },
    "location": {"en": ("location", "where"), "es": ("ubicación",), "fr": ("emplacement", "lieu"),
                 "de": ("standort",), "pt": ("localização",), "zh": ("位置", "所在地"), "hu": ("helyszín",)},
    "description": {
        "en": ("description", "describe", "about", "about us", "about your business", "summary", "overview",
               "details", "notes", "bio", "message", "tell us", "short description", "long description",
               "business description", "services offered", "what you do", "what does your"),
        "es": ("descripción", "acerca de", "sobre nosotros", "resumen", "mensaje", "describe"),
        "fr": ("description", "à propos", "présentation", "résumé", "message"),
        "de": ("beschreibung", "über uns", "kurzbeschreibung", "nachricht", "zusammenfassung"),
        "pt": ("descrição", "sobre nós", "sobre a empresa", "resumo", "mensagem"),
        "zh": ("描述", "简介", "介绍", "说明", "详情"),
        "hu": ("leírás", "bemutatkozás", "ismertető", "üzenet"),
    },
    "first_name": {"en": ("first name", "given name", "forename"), "es": ("nombre de pila",),
                   "fr": ("prénom",), "de": ("vorname",), "pt": ("primeiro nome",), "zh": ("名",),
                   "hu": ("keresztnév",)},
    "last_name": {"en": ("last name", "surname", "family name"), "es": ("apellido*",), "fr": ("nom de famille",),
                  "de": ("nachname",), "pt": ("sobrenome", "apelido"), "zh": ("姓氏",), "hu": ("vezetéknév",)},
    "contact_name": {
        "en": ("contact name", "contact person", "owner name", "=owner", "your name", "full name", "owner s name",
               "name of contact", "person name", "representative", "manager name"),
        "es": ("nombre de contacto", "persona de contacto", "nombre completo", "tu nombre", "su nombre"),
        "fr": ("nom du contact", "personne à contacter", "nom complet", "votre nom", "nom et prénom"),
        "de": ("ansprechpartner", "kontaktperson", "vollständiger name", "ihr name", "vor und nachname"),
        "pt": ("nome de contato", "nome do contato", "pessoa de contato", "nome completo", "seu nome"),
        "zh": ("联系人", "姓名", "负责人"),
        "hu": ("kapcsolattartó", "teljes név", "az ön neve", "kapcsolattartó neve"),
    },
    "business_name": {
        "en": ("business name", "company name", "=company", "=organization", "=organisation", "organization name",
               "organisation name", "=business", "firm name", "brand name", "store name", "shop name",
               "listing name", "listing title", "tool name", "product name", "app name", "site name",
               "venue name", "practice name", "legal name", "operating name", "trading name", "dba",
               "name of business", "name of your business", "startup name", "agency name", "business title",
               "=title", "=listing", "place name", "place title"),
        "es": ("nombre de la empresa", "nombre del negocio", "=empresa", "=negocio", "razón social",
               "nombre comercial"),
        "fr": ("nom de l entreprise", "nom de la société", "=entreprise", "=société", "raison sociale",
               "nom commercial"),
        "de": ("firmenname", "=firma", "=unternehmen", "unternehmensname", "name des unternehmens"),
        "pt": ("nome da empresa", "nome do negócio", "=empresa", "razão social", "nome fantasia"),
        "zh": ("公司名称", "企业名称", "商家名称", "店铺名称", "=公司", "名称"),
        "hu": ("cégnév", "vállalkozás neve", "cég neve", "üzlet neve", "=cég"),
    },
    "name": {"en": ("name",), "es": ("nombre",), "fr": ("nom",), "de": ("name",), "pt": ("nome",),
             "zh": ("名字",), "hu": ("név",)},
}

#: When two keys match equally long phrases, the earlier key wins.
PRIORITY: tuple[str, ...] = tuple(FIELDS)


def fold(text: str) -> str:
    """Lower case, accents and punctuation gone, identifiers split into words:
    ``"toolName"``, ``"tool_name"`` and ``"Tool  Name*"`` all become ``"tool name"``."""
    text = re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Za-z])(?=[0-9])", " ", text or "")
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    text = re.sub(r"[\W_]+", " ", text)
    return " ".join(text.split())


_CJK = re.compile(r"[\u3000-\u9fff\uac00-\ud7af]")


def _phrase_pattern(phrase: str) -> str:
    prefix = phrase.endswith("*")
    body = fold(phrase.strip("*=~"))
    if phrase.startswith("="):
        return rf"^{re.escape(body)}$"
    if _CJK.search(body):
        return re.escape(body)  # no word boundaries in Chinese
    tail = r"\w*" if prefix else ""
    return rf"(?<!\w){re.escape(body)}{tail}(?!\w)"


@dataclass(frozen=True)
class Match:
    key: str
    phrase: str
    lang: str

    @property
    def weak(self) -> bool:
        """A ``~`` phrase: names the field less surely ("Mobile" beside "Phone")."""
        return self.phrase.startswith("~")


def compile_table(table: Table) -> list[tuple[str, str, str, re.Pattern[str]]]:
    """(key, language, phrase, pattern) for every phrase of ``table``."""
    return [
        (key, lang, phrase, re.compile(_phrase_pattern(phrase)))
        for key, langs in table.items()
        for lang, phrases in langs.items()
        for phrase in phrases
    ]


@cache
def _fields() -> list[tuple[str, str, str, re.Pattern[str]]]:
    return compile_table(FIELDS)


def _without_asides(text: str) -> str:
    """"Notes (service area, licence #)" is about notes: the aside only qualifies it."""
    return re.sub(r"\([^)]*\)|\[[^\]]*\]", " ", text)


def classify(text: str) -> Match | None:
    """The field a text names: the longest matching phrase wins, then :data:`PRIORITY`.
    Text in parentheses is consulted only when the rest names nothing."""
    for candidate in (_without_asides(text), text):
        folded = fold(candidate)
        if not folded:
            continue
        if folded == "x":  # the network formerly known as Twitter, labelled by its letter
            return Match("social_x", "x", "en")
        best: tuple[int, int, Match] | None = None
        for key, lang, phrase, pattern in _fields():
            if pattern.search(folded):
                rank = (len(fold(phrase.strip("*=~"))), -PRIORITY.index(key))
                if best is None or rank > best[:2]:
                    best = (*rank, Match(key, phrase, lang))
        if best is not None:
            return best[2]
    return None
