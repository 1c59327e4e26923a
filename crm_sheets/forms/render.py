"""HTML of the forms: the accessible form page (labels, errors next to fields, an error summary),
the thank-you page, and the embed snippets `crm-sheets forms` prints. English and French.

Pure: a FormDef and what to show in, HTML text out (Jinja2 with autoescaping: nothing a visitor
typed is ever markup).
"""
from __future__ import annotations

import json
from typing import Any, Mapping

from jinja2 import Environment, select_autoescape

from crm_sheets.forms.definitions import FormDef
from crm_sheets.model.fieldtypes import field_type

TOKEN_FIELD = "_crm_token"
LANG_FIELD = "_crm_lang"
HONEYPOT_FIELD = "contact_url_2"  # a field people never see nor fill; bots fill every field
RESERVED = frozenset({TOKEN_FIELD, LANG_FIELD, HONEYPOT_FIELD})

WORDS = {
    "en": {"send": "Send", "required": "required", "errors": "Please correct the fields marked below:",
           "leave_empty": "Leave this field empty", "choose": "Choose…", "expired": "This form had expired; please send it again.",
           "not_found": "This form does not exist or is closed.", "busy": "Too many messages right now; please try again in a minute.",
           "captcha": "Please confirm you are not a robot.", "other_lang": "Français", "other_code": "fr",
           "thanks_title": "Thank you"},
    "fr": {"send": "Envoyer", "required": "obligatoire", "errors": "Veuillez corriger les champs signalés ci-dessous :",
           "leave_empty": "Laissez ce champ vide", "choose": "Choisir…", "expired": "Ce formulaire avait expiré ; veuillez l'envoyer à nouveau.",
           "not_found": "Ce formulaire n'existe pas ou est fermé.", "busy": "Trop de messages en ce moment ; veuillez réessayer dans une minute.",
           "captcha": "Veuillez confirmer que vous n'êtes pas un robot.", "other_lang": "English", "other_code": "en",
           "thanks_title": "Merci"},
}

# Each field type says how it is typed in a form (FieldType.input_type: text, email, tel, url, number,
# date, datetime-local, checkbox, textarea, select, select-multiple) and its step and bounds.

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b}
label{display:block;font-weight:600;margin-top:1rem}
input,select,textarea{font:inherit;width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #767676;border-radius:4px}
input[type=checkbox]{width:auto;margin-right:.5rem}
.check label{display:inline;font-weight:400}
[aria-invalid=true]{border:2px solid #b00020}
.error{color:#b00020;margin:.25rem 0 0}
.summary{border:2px solid #b00020;padding:.5rem 1rem;border-radius:4px}
.req{color:#b00020}
button{margin-top:1.5rem;font:inherit;padding:.6rem 1.5rem;background:#1f4e79;color:#fff;border:0;border-radius:4px;cursor:pointer}
.lang{float:right}
"""

_FORM = """<!doctype html>
<html lang="{{ lang }}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title><style>{{ style }}</style></head>
<body>
<main>
<a class="lang" href="?lang={{ w.other_code }}" hreflang="{{ w.other_code }}">{{ w.other_lang }}</a>
<h1>{{ title }}</h1>
{{ form_html }}
</main>
</body></html>
"""

_FORM_BODY = """{% if notice %}<p class="summary" role="alert">{{ notice }}</p>{% endif %}
{% if errors %}<div class="summary" role="alert" tabindex="-1" id="{{ fid }}-errors"><p>{{ w.errors }}</p><ul>
{% for f in fields if f.name in errors %}<li><a href="#{{ fid }}-{{ f.name }}">{{ f.label(lang) }}: {{ errors[f.name] }}</a></li>
{% endfor %}</ul></div>{% endif %}
<form id="{{ fid }}" method="post" action="{{ action }}" accept-charset="utf-8">
<input type="hidden" name="{{ token_field }}" value="{{ token }}">
<input type="hidden" name="{{ lang_field }}" value="{{ lang }}">
{% for f in fields %}{% set id = fid ~ "-" ~ f.name %}{% set bad = f.name in errors %}{% set v = values.get(f.name, "") %}
{% set described = (id ~ "-error") if bad else ((id ~ "-help") if f.field.help(lang) else "") %}
{% set ft = field_type(f.field.type) %}
<div class="field{% if ft.input_type == 'checkbox' %} check{% endif %}">
{% if ft.input_type == "checkbox" %}
<input type="checkbox" id="{{ id }}" name="{{ f.name }}" value="on"{% if v in ("on", "true", True) %} checked{% endif %}{% if f.required %} required{% endif %}{% if bad %} aria-invalid="true"{% endif %}{% if described %} aria-describedby="{{ described }}"{% endif %}>
<label for="{{ id }}">{{ f.label(lang) }}{% if f.required %} <span class="req" aria-hidden="true">*</span>{% endif %}</label>
{% else %}
<label for="{{ id }}">{{ f.label(lang) }}{% if f.required %} <span class="req" aria-hidden="true">*</span>{% endif %}</label>
{% if ft.input_type == "textarea" %}
<textarea id="{{ id }}" name="{{ f.name }}" rows="5" maxlength="5000"{% if f.required %} required aria-required="true"{% endif %}{% if bad %} aria-invalid="true"{% endif %}{% if described %} aria-describedby="{{ described }}"{% endif %}>{{ v }}</textarea>
{% elif ft.input_type in ("select", "select-multiple") %}
<select id="{{ id }}" name="{{ f.name }}"{% if ft.input_type == "select-multiple" %} multiple{% endif %}{% if f.required %} required aria-required="true"{% endif %}{% if bad %} aria-invalid="true"{% endif %}{% if described %} aria-describedby="{{ described }}"{% endif %}>
{% if ft.input_type == "select" %}<option value="">{{ w.choose }}</option>{% endif %}
{% for key, labels in f.options %}<option value="{{ key }}"{% if key == v or (v and key in v.split(", ")) %} selected{% endif %}>{{ labels.get(lang) or labels.en }}</option>
{% endfor %}</select>
{% else %}
{% set lo = f.field.constraints.minimum if f.field.constraints.minimum is not none else ft.input_min %}
{% set hi = f.field.constraints.maximum if f.field.constraints.maximum is not none else ft.input_max %}
<input type="{{ ft.input_type }}" id="{{ id }}" name="{{ f.name }}" value="{{ v }}"
{%- if ft.input_step %} step="{{ ft.input_step }}"{% endif %}
{%- if lo is not none and ft.numeric and not ft.percent %} min="{{ lo }}"{% endif %}
{%- if hi is not none and ft.numeric and not ft.percent %} max="{{ hi }}"{% endif %}
{%- if f.field.constraints.pattern %} pattern="{{ html_pattern(f.field.constraints.pattern) }}"{% endif %}
{%- if not (ft.temporal or ft.numeric) %} maxlength="500"{% endif %}
{%- if autocomplete.get(f.name) %} autocomplete="{{ autocomplete[f.name] }}"{% endif %}
{%- if f.required %} required aria-required="true"{% endif %}{% if bad %} aria-invalid="true"{% endif %}{% if described %} aria-describedby="{{ described }}"{% endif %}>
{% endif %}{% endif %}
{% if f.field.help(lang) and not bad %}<p class="help" id="{{ id }}-help">{{ f.field.help(lang) }}</p>{% endif %}
{% if bad %}<p class="error" id="{{ id }}-error">{{ errors[f.name] }}</p>{% endif %}
</div>
{% endfor %}
<div style="position:absolute;left:-10000px;top:auto;width:1px;height:1px;overflow:hidden" aria-hidden="true"><label for="{{ fid }}-hp">{{ w.leave_empty }}</label>
<input type="text" id="{{ fid }}-hp" name="{{ honeypot }}" value="" tabindex="-1" autocomplete="off"></div>
{{ captcha_html }}
<button type="submit">{{ w.send }}</button>
</form>
"""

_THANKS = """<!doctype html>
<html lang="{{ lang }}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ w.thanks_title }}</title><style>{{ style }}</style></head>
<body><main><h1>{{ w.thanks_title }}</h1><p role="status">{{ text }}</p></main></body></html>
"""

_MESSAGE = """<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><title>{{ text }}</title><style>{{ style }}</style></head>
<body><main><p role="alert">{{ text }}</p></main></body></html>
"""

AUTOCOMPLETE = {"first_name": "given-name", "last_name": "family-name", "email": "email", "phone": "tel",
                "company": "organization", "job_title": "organization-title", "country": "country-name",
                "city": "address-level2", "website": "url"}

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=True, lstrip_blocks=True)


def _html_pattern(pattern: str) -> str:
    """A schema pattern as an HTML pattern attribute, which is anchored already."""
    if pattern.startswith("^"):
        pattern = pattern[1:]
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        pattern = pattern[:-1]
    return pattern


_env.globals["html_pattern"] = _html_pattern
_env.globals["field_type"] = field_type


def form_html(form: FormDef, *, lang: str, token: str, action: str, values: Mapping[str, Any] | None = None,
              errors: Mapping[str, str] | None = None, notice: str = "", captcha_html: str = "") -> str:
    """The <form> element alone (with its error summary): what a page or an embed holds."""
    from markupsafe import Markup

    return _env.from_string(_FORM_BODY).render(
        fid=f"crm-form-{form.name}", form=form, fields=form.fields, lang=lang, token=token, action=action,
        values=dict(values or {}), errors=dict(errors or {}), notice=notice, w=WORDS[lang],
        token_field=TOKEN_FIELD, lang_field=LANG_FIELD, honeypot=HONEYPOT_FIELD,
        autocomplete=AUTOCOMPLETE, captcha_html=Markup(captcha_html))


def form_page(form: FormDef, **kw: Any) -> str:
    from markupsafe import Markup

    lang = kw["lang"]
    return _env.from_string(_FORM).render(lang=lang, title=form.title(lang), w=WORDS[lang], style=_STYLE,
                                          form_html=Markup(form_html(form, **kw)))


def thanks_page(form: FormDef, lang: str) -> str:
    return _env.from_string(_THANKS).render(lang=lang, w=WORDS[lang], text=form.thanks(lang), style=_STYLE)


def message_page(text: str, lang: str) -> str:
    return _env.from_string(_MESSAGE).render(lang=lang, text=text, style=_STYLE)


def token_script(form: FormDef, token: str) -> str:
    """JavaScript that puts a fresh token into the embedded plain HTML form (a <script> may load cross-site)."""
    return ("(function(){var f=document.getElementById(%s);if(f&&f.elements[%s]){f.elements[%s].value=%s;}})();\n"
            % (json.dumps(f"crm-form-{form.name}"), json.dumps(TOKEN_FIELD), json.dumps(TOKEN_FIELD), json.dumps(token)))


def embed_snippets(form: FormDef, base_url: str, lang: str = "en") -> dict[str, str]:
    """The two ways to put a form on a site: an iframe, or plain HTML that posts cross-origin."""
    base = base_url.rstrip("/")
    url = f"{base}/forms/{form.name}"
    iframe = (f'<iframe src="{url}?lang={lang}" title="{_env.from_string("{{ t }}").render(t=form.title(lang))}" '
              'style="width:100%;max-width:40rem;height:52rem;border:0" loading="lazy"></iframe>')
    plain = form_html(form, lang=lang, token="", action=url)
    plain += f'<script src="{url}/token.js" async></script>\n'
    return {"iframe": iframe, "html": plain}
