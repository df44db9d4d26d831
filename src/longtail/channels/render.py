"""Render scaled emails from Jinja2 templates: personal slots with fallbacks, one CTA, tracked links, unsubscribe.

The seeds' 20/70/10 rule shapes the template format: ~20% personal slots (`{{ contact.first_name }}`,
`{{ account.name }}`, `{{ features.reports_events_28d }}`), ~70% reusable body, ~10% exactly one call to action.
A template file is YAML front matter (subject, cta, fallbacks, max_lengths) between `---` lines, then the HTML body:

    ---
    subject: "{{ contact.first_name }}, your team ran {{ features.reports_events_28d }} reports"
    cta: {label: See your reports, url: "https://app.example.com/reports"}
    fallbacks: {contact.first_name: there, features.reports_events_28d: a few}
    ---
    <p>Hi {{ contact.first_name }},</p> ... <a href="{{ cta.url }}">{{ cta.label }}</a>

Every slot needs a fallback (checked when the template is loaded) so missing data never renders "None" or a gap.
Data is never compiled as a template, HTML is autoescaped in a sandbox, string slots lose control characters
and are truncated, and the subject is forced onto one line, so hostile account names cannot inject markup,
template code or mail headers. The plain-text part is derived from the rendered HTML, so both parts always
say the same thing.
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2
import yaml
from jinja2 import meta, nodes
from jinja2.sandbox import SandboxedEnvironment

from longtail.channels.tokens import sign_click, sign_open, sign_unsubscribe
from longtail.errors import ConfigError, UsageError

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "SLOT_ROOTS",
    "Cta",
    "EmailTemplate",
    "RenderedEmail",
    "clean_slot_text",
    "html_to_text",
    "load_template",
    "load_templates",
    "load_workspace_templates",
    "parse_template",
    "render_email",
    "single_line",
]

DEFAULT_MAX_LENGTH = 80
SLOT_ROOTS = ("account", "contact", "features")
# Names a template may use besides slots: the declared CTA and the signed unsubscribe link.
_BUILTIN_NAMES = frozenset({"cta", "unsubscribe_url"})
_FRONT_MATTER_KEYS = frozenset({"subject", "cta", "fallbacks", "max_lengths", "description"})
_TRACKED_TAGS = frozenset({"a", "area"})
# Bidi overrides can make a name display as something else (e.g. reversing a domain); drop them with the controls.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

_html_env = SandboxedEnvironment(autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
_text_env = SandboxedEnvironment(autoescape=False, undefined=jinja2.StrictUndefined)


@dataclass(frozen=True)
class Cta:
    """The one call to action of a message."""

    label: str
    url: str


@dataclass(frozen=True)
class EmailTemplate:
    """A loaded, checked email template; render it with `render_email`."""

    name: str
    source_name: str
    subject: jinja2.Template
    body: jinja2.Template
    cta: Cta
    fallbacks: Mapping[str, str | int | float]
    max_lengths: Mapping[str, int]
    slots: frozenset[str]
    description: str = ""


@dataclass(frozen=True)
class RenderedEmail:
    """One rendered message: single-line subject, HTML with tracking, plain text, and extra mail headers."""

    subject: str
    html: str
    text: str
    headers: Mapping[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------------------ loading


def load_workspace_templates(root: Path) -> dict[str, EmailTemplate]:
    """Every template under the workspace's `motion/templates/`, by name (empty when the folder is absent)."""
    return load_templates(root / "motion" / "templates")


def load_templates(directory: Path) -> dict[str, EmailTemplate]:
    """Every `*.j2` template in `directory`, by name (the file name up to its first dot)."""
    if not directory.is_dir():
        return {}
    templates: dict[str, EmailTemplate] = {}
    for path in sorted(directory.glob("*.j2")):
        template = load_template(path)
        if template.name in templates:
            raise ConfigError(f"{path}: a second template named {template.name!r} (file names up to the first dot "
                              f"must be unique in {directory})")
        templates[template.name] = template
    return templates


def load_template(path: Path) -> EmailTemplate:
    """Read and check one template file; ConfigError naming file:line when it is invalid."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the template: {exc}") from exc
    return parse_template(source, name=path.name.split(".", 1)[0], source_name=str(path))


def parse_template(source: str, *, name: str, source_name: str) -> EmailTemplate:
    """Check and compile a template from its text; ConfigError naming `source_name`:line when it is invalid."""
    front, body_line, body = _split_front_matter(source, source_name)
    spec, lines = _read_front_matter(front, source_name)

    def where(key: str) -> str:
        return f"{source_name}:{lines.get(key, 2)}"

    _refuse_unknown_keys(spec, lines, source_name)
    subject_source = spec.get("subject")
    if not isinstance(subject_source, str) or not subject_source.strip():
        raise ConfigError(f"{where('subject')}: `subject` must be a non-empty text template")
    cta = _read_cta(spec.get("cta"), where("cta"))
    fallbacks = _read_fallbacks(spec.get("fallbacks", {}), where("fallbacks"))
    max_lengths = _read_max_lengths(spec.get("max_lengths", {}), where("max_lengths"))

    # Padding the sources with newlines makes Jinja's line numbers the file's line numbers.
    subject_ast = _parse(_text_env, "\n" * (lines.get("subject", 2) - 1) + subject_source, source_name)
    body_ast = _parse(_html_env, "\n" * (body_line - 1) + body, source_name)
    slots = _check_names(subject_ast, source_name, fallbacks) | _check_names(body_ast, source_name, fallbacks)
    for slot in max_lengths:
        if slot not in slots:
            raise ConfigError(f"{where('max_lengths')}: max length declared for {slot!r}, which the template "
                              "does not use")
    template = EmailTemplate(
        name=name,
        source_name=source_name,
        subject=_text_env.from_string(subject_ast),
        body=_html_env.from_string(body_ast),
        cta=cta,
        fallbacks=fallbacks,
        max_lengths=max_lengths,
        slots=frozenset(slots),
        description=str(spec.get("description", "")),
    )
    # A rehearsal with no data at all renders every fallback: it finds a missing CTA, a second CTA or a
    # fallback the template cannot use (e.g. compared as a number) now rather than when the first email goes out.
    render_email(template, {"contact": {"contact_id": "rehearsal"}}, message_key="rehearsal",
                 base_url="https://rehearsal.invalid", secret="rehearsal-secret-not-used-for-mail")
    return template


def _split_front_matter(source: str, source_name: str) -> tuple[str, int, str]:
    """(front matter text, 1-based line where the body starts, body text)."""
    lines = source.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        raise ConfigError(f"{source_name}:1: a template starts with `---`, YAML front matter (subject, cta, "
                          "fallbacks), then `---` and the HTML body")
    for index, line in enumerate(lines[1:], start=1):
        if line.strip() == "---":
            return "".join(lines[1:index]), index + 2, "".join(lines[index + 1:])
    raise ConfigError(f"{source_name}:1: the front matter opened on line 1 is never closed by a `---` line")


def _read_front_matter(front: str, source_name: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The front matter mapping, and the file line of each top-level key."""
    try:
        spec = yaml.safe_load(front)
        root = yaml.compose(front, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 2
        # The problem alone: YAML's own positions count from the front matter, not the file, and would mislead.
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source_name}:{line}: the front matter is not valid YAML: {problem}") from exc
    if not isinstance(spec, dict) or not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{source_name}:2: the front matter must be a YAML mapping (subject, cta, fallbacks)")
    # +2: the front matter starts on file line 2 and YAML marks are 0-based.
    lines = {str(key.value): key.start_mark.line + 2 for key, _ in root.value}
    return spec, lines


def _refuse_unknown_keys(spec: Mapping[Any, Any], lines: Mapping[str, int], source_name: str) -> None:
    """A misspelt key (e.g. `fallback:`) would silently drop its content: refuse it."""
    for key in spec:
        if key not in _FRONT_MATTER_KEYS:
            raise ConfigError(f"{source_name}:{lines.get(str(key), 2)}: unknown front matter key {key!r}; "
                              f"known: {', '.join(sorted(_FRONT_MATTER_KEYS))}")


def _read_cta(value: object, where: str) -> Cta:
    if not isinstance(value, dict) or set(value) != {"label", "url"}:
        raise ConfigError(f"{where}: `cta` must be a mapping with exactly `label` and `url` (one call to action)")
    label, url = value["label"], value["url"]
    if not isinstance(label, str) or not label.strip():
        raise ConfigError(f"{where}: `cta.label` must be non-empty text")
    if not isinstance(url, str) or not re.match(r"https?://[^\s\"'<>]+$", url):
        raise ConfigError(f"{where}: `cta.url` must be an absolute http(s) URL without spaces or quotes, got {url!r}")
    return Cta(label=label.strip(), url=url)


def _read_fallbacks(value: object, where: str) -> dict[str, str | int | float]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: `fallbacks` must map slots (e.g. account.name) to text")
    fallbacks: dict[str, str | int | float] = {}
    for slot, text in value.items():
        _check_slot_name(slot, where)
        if not isinstance(text, str | int | float) or isinstance(text, bool) or not str(text).strip():
            raise ConfigError(f"{where}: the fallback for {slot!r} must be non-empty text (a gap reads as a bug)")
        # Numbers stay numbers so a template may compare a feature slot (`{% if features.seats > 10 %}`).
        fallbacks[slot] = text
    return fallbacks


def _read_max_lengths(value: object, where: str) -> dict[str, int]:
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: `max_lengths` must map slots to a number of characters")
    lengths: dict[str, int] = {}
    for slot, length in value.items():
        _check_slot_name(slot, where)
        if not isinstance(length, int) or isinstance(length, bool) or length < 1:
            raise ConfigError(f"{where}: the max length of {slot!r} must be a positive whole number")
        lengths[slot] = length
    return lengths


def _check_slot_name(slot: object, where: str) -> None:
    root, dot, name = str(slot).partition(".")
    if not isinstance(slot, str) or root not in SLOT_ROOTS or not dot or not name.isidentifier():
        raise ConfigError(f"{where}: {slot!r} is not a slot; slots are {', '.join(r + '.<field>' for r in SLOT_ROOTS)}")


def _parse(env: SandboxedEnvironment, source: str, source_name: str) -> nodes.Template:
    try:
        return env.parse(source, filename=source_name)
    except jinja2.TemplateSyntaxError as exc:
        raise ConfigError(f"{source_name}:{exc.lineno}: template syntax error: {exc.message}") from exc


def _check_names(ast: nodes.Template, source_name: str, fallbacks: Mapping[str, object]) -> set[str]:
    """The slots the template uses; ConfigError for unknown names, whole-section use, or a slot with no fallback."""
    unknown = meta.find_undeclared_variables(ast) - set(SLOT_ROOTS) - _BUILTIN_NAMES
    if unknown:
        line = min(n.lineno for n in ast.find_all(nodes.Name) if n.name in unknown)
        raise ConfigError(f"{source_name}:{line}: unknown name(s) {', '.join(sorted(unknown))}; a template can use "
                          f"{', '.join(r + '.<field>' for r in SLOT_ROOTS)}, cta.label, cta.url and unsubscribe_url")
    slots: set[str] = set()
    consumed: set[int] = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)  # find_all's annotation is only `Node`
        base = node.node
        if not isinstance(base, nodes.Name) or base.name not in SLOT_ROOTS:
            continue
        if isinstance(node, nodes.Getattr):
            slot = f"{base.name}.{node.attr}"
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            slot = f"{base.name}.{node.arg.value}"
        else:
            raise ConfigError(f"{source_name}:{node.lineno}: {base.name}[...] needs a literal field name so its "
                              "fallback can be checked")
        if slot not in fallbacks:
            raise ConfigError(f"{source_name}:{node.lineno}: slot {slot!r} has no fallback; declare one under "
                              f"`fallbacks:` (e.g. {slot}: \"your team\")")
        slots.add(slot)
        consumed.add(id(base))
    for name in ast.find_all(nodes.Name):
        if name.name in SLOT_ROOTS and id(name) not in consumed:
            raise ConfigError(f"{source_name}:{name.lineno}: use one field at a time ({name.name}.<field>), not "
                              f"the whole {name.name!r} section, so each slot has a fallback")
    return slots


# ---------------------------------------------------------------------------------------------- rendering


def render_email(template: EmailTemplate, context: Mapping[str, Any], *, message_key: str, base_url: str,
                 secret: str | bytes, channel: str = "email", unsubscribe_mailto: str | None = None) -> RenderedEmail:
    """Render `template` for one contact.

    `context` holds `account`, `contact` (with `contact_id`) and `features` mappings. Links in the HTML become
    signed redirects `{base_url}/t/c/{token}`, an open pixel `{base_url}/t/o/{token}` is appended, and the
    headers carry a signed RFC 8058 one-click unsubscribe link `{base_url}/u/{token}`.
    """
    base = _base_url(base_url)
    if unsubscribe_mailto is not None and not re.fullmatch(r"[^\s<>,@]+@[^\s<>,@?]+(\?[^\s<>,]*)?",
                                                           unsubscribe_mailto):
        # It goes verbatim into a header: anything beyond a plain address could break or inject into it.
        raise UsageError(f"unsubscribe_mailto must be a plain address, got {unsubscribe_mailto!r}")
    contact = context.get("contact")
    contact_id = contact.get("contact_id") if isinstance(contact, Mapping) else None
    if not isinstance(contact_id, str) or not contact_id:
        raise UsageError(f"cannot render {template.name!r} without contact.contact_id: the unsubscribe link needs it")
    unsubscribe_url = f"{base}/u/{sign_unsubscribe(contact_id, channel, message_key, secret)}"
    variables: dict[str, Any] = {
        **_slot_values(template, context),
        "cta": {"label": template.cta.label, "url": template.cta.url},
        "unsubscribe_url": unsubscribe_url,
    }
    subject = single_line(_run(template, template.subject, variables))
    if not subject:
        raise ConfigError(f"{template.source_name}: the subject renders empty")
    # lstrip: the newlines that align Jinja's line numbers with the file are not part of the message.
    body = _run(template, template.body, variables).lstrip("\n")
    links = _scan_links(body)
    cta_links = sum(1 for link in links if link.href == template.cta.url)
    if cta_links != 1:
        raise ConfigError(f"{template.source_name}: the body must contain exactly one link to the CTA "
                          f"{template.cta.url} (found {cta_links}); write <a href=\"{{{{ cta.url }}}}\">")

    def tracked(url: str) -> str | None:
        # Only web links are tracked; the unsubscribe link is already signed and counting it as a click would
        # inflate click-through on exactly the people leaving.
        if not url.startswith(("http://", "https://")) or url == unsubscribe_url:
            return None
        return f"{base}/t/c/{sign_click(message_key, url, secret)}"

    pixel = f'<img src="{base}/t/o/{sign_open(message_key, secret)}" width="1" height="1" alt="">'
    mailto = f", <mailto:{unsubscribe_mailto}>" if unsubscribe_mailto is not None else ""
    headers = {
        "List-Unsubscribe": f"<{unsubscribe_url}>{mailto}",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    return RenderedEmail(subject=subject, html=_insert_pixel(_rewrite_links(body, links, tracked), pixel),
                         text=html_to_text(body), headers=headers)


def _base_url(base_url: str) -> str:
    base = base_url.rstrip("/")
    if not re.fullmatch(r"https?://[^\s\"'<>/]+(/[^\s\"'<>]*)?", base):
        raise UsageError(f"base_url must be an absolute http(s) URL, got {base_url!r}")
    return base


def _run(template: EmailTemplate, compiled: jinja2.Template, variables: Mapping[str, Any]) -> str:
    """Render, turning Jinja's runtime errors into a ConfigError that names the template."""
    try:
        return compiled.render(variables)
    except jinja2.TemplateError as exc:
        raise ConfigError(f"{template.source_name}: rendering failed: {exc}") from exc
    except (TypeError, ValueError, ArithmeticError) as exc:
        # e.g. a numeric comparison on a slot whose fallback is text: the template, not the data, is wrong.
        raise ConfigError(f"{template.source_name}: rendering failed (check slot types and fallbacks): {exc}") from exc


def _slot_values(template: EmailTemplate, context: Mapping[str, Any]) -> dict[str, dict[str, object]]:
    """Only the declared slots, each cleaned or replaced by its fallback, nested as `{root: {field: value}}`."""
    values: dict[str, dict[str, object]] = {root: {} for root in SLOT_ROOTS}
    for slot in template.slots:
        root, name = slot.split(".", 1)
        limit = template.max_lengths.get(slot, DEFAULT_MAX_LENGTH)
        value = _display(_raw_slot(context, root, name), limit)
        values[root][name] = template.fallbacks[slot] if value is None else value
    return values


def _raw_slot(context: Mapping[str, Any], root: str, name: str) -> object:
    section = context.get(root)
    if not isinstance(section, Mapping):
        return None
    value = section.get(name)
    if value is None and root == "contact" and name == "first_name":
        # The contacts contract carries a full `name`; the first word is what a greeting wants.
        full = section.get("name")
        if isinstance(full, str) and full.split():
            value = full.split()[0]
    return value


def _display(value: object, limit: int) -> object | None:
    """A value ready for a slot, or None when the fallback should be used instead."""
    if value is None or isinstance(value, bool):
        # Booleans render as "True"/"False", which no reader should see; the fallback reads better.
        return None
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        # Whole numbers print without ".0"; ratios keep two decimals, enough for a sentence.
        return int(value) if value.is_integer() else round(value, 2)
    text = clean_slot_text(str(value), limit)
    return text or None


def clean_slot_text(value: str, max_length: int = DEFAULT_MAX_LENGTH) -> str:
    """`value` without control or bidi characters, whitespace collapsed, cut to `max_length` with an ellipsis."""
    kept = "".join(" " if _is_control(char) else char for char in value)
    text = " ".join(kept.split())
    if len(text) > max_length:
        text = text[: max_length - 1].rstrip() + "…"
    return text


def single_line(text: str) -> str:
    """`text` on one line: a subject with CR/LF would let data inject mail headers."""
    kept = "".join(" " if _is_control(char) else char for char in text)
    return " ".join(kept.split())


def _is_control(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI_CONTROLS


@dataclass(frozen=True)
class _Link:
    """A link start tag in rendered HTML: where it is, its exact text and its attributes."""

    offset: int
    text: str
    tag: str
    attrs: tuple[tuple[str, str | None], ...]

    @property
    def href(self) -> str | None:
        return next((value for name, value in self.attrs if name == "href"), None)


class _LinkScanner(HTMLParser):
    """Finds `<a>`/`<area>` start tags with their offsets, so they can be rewritten without re-serialising."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[_Link] = []
        self._line_starts = [0]
        for match in re.finditer("\n", source):
            self._line_starts.append(match.end())

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _TRACKED_TAGS and any(name == "href" for name, _ in attrs):
            line, column = self.getpos()
            text = self.get_starttag_text() or ""
            self.links.append(_Link(self._line_starts[line - 1] + column, text, tag, tuple(attrs)))


def _scan_links(body: str) -> list[_Link]:
    scanner = _LinkScanner(body)
    scanner.feed(body)
    scanner.close()
    for link in scanner.links:
        if body[link.offset: link.offset + len(link.text)] != link.text:
            raise AssertionError(f"link scanner lost its position at {link.text!r}")  # a bug here, not bad input
    return scanner.links


def _rewrite_links(body: str, links: list[_Link], tracked: Callable[[str], str | None]) -> str:
    """`body` with each trackable href replaced by `tracked(href)`, everything else byte for byte."""
    parts: list[str] = []
    position = 0
    for link in links:
        href = link.href
        target = tracked(href) if href is not None else None
        if target is None:
            continue
        attrs = "".join(
            f" {name}" if value is None else f' {name}="{html.escape(target if name == "href" else value)}"'
            for name, value in link.attrs
        )
        closing = " />" if link.text.endswith("/>") else ">"
        parts += [body[position: link.offset], f"<{link.tag}{attrs}{closing}"]
        position = link.offset + len(link.text)
    parts.append(body[position:])
    return "".join(parts)


def _insert_pixel(body: str, pixel: str) -> str:
    """The open pixel just before `</body>`, or at the end of a fragment."""
    index = body.lower().rfind("</body>")
    return body + pixel if index < 0 else body[:index] + pixel + body[index:]


# ------------------------------------------------------------------------------------------- HTML to text

_BLOCK_TAGS = frozenset({"p", "div", "table", "tr", "ul", "ol", "section", "header", "footer", "blockquote",
                         "h1", "h2", "h3", "h4", "h5", "h6", "hr", "article", "main", "center"})
_HIDDEN_TAGS = frozenset({"head", "style", "script", "title", "template"})


class _TextConverter(HTMLParser):
    """Plain text from HTML: blocks become paragraphs, links show their URL, hidden parts are dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._hidden = 0
        self._link: tuple[str, int] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden += 1
        elif tag in _BLOCK_TAGS:
            self.out.append("\n\n")
        elif tag == "br":
            self.out.append("\n")
        elif tag == "li":
            self.out.append("\n- ")
        elif tag in ("td", "th"):
            self.out.append(" ")
        elif tag == "a":
            href = dict(attrs).get("href")
            self._link = (href, len(self.out)) if href and not href.startswith("#") else None

    def handle_endtag(self, tag: str) -> None:
        if tag in _HIDDEN_TAGS:
            self._hidden = max(0, self._hidden - 1)
        elif tag in _BLOCK_TAGS:
            self.out.append("\n\n")
        elif tag == "a" and self._link is not None:
            href, start = self._link
            label = " ".join("".join(self.out[start:]).split())
            href = href.removeprefix("mailto:")
            if label != href:
                self.out.append(f" ({href})" if label else href)
            self._link = None

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            # HTML collapses source whitespace; so does the text part.
            self.out.append(re.sub(r"\s+", " ", data))


def html_to_text(source: str) -> str:
    """The plain-text rendition of an HTML email body."""
    converter = _TextConverter()
    converter.feed(source)
    converter.close()
    lines = [" ".join(line.split()) for line in "".join(converter.out).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
