"""Rendering: slots and fallbacks, hostile data, one CTA, tracked links, open pixel, unsubscribe headers."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from longtail.channels.render import clean_slot_text, html_to_text, load_template, load_templates
from longtail.channels.tokens import InvalidToken, verify_click, verify_open, verify_unsubscribe
from longtail.errors import ConfigError, UsageError
from tests.email_render.conftest import BASE, BODY, FRONT, SECRET, context, render, template

EXAMPLES = Path(__file__).parents[2] / "src" / "longtail" / "examples" / "templates"


class _Collector(HTMLParser):
    """Tags with their attributes, and the text, of an HTML document."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(source: str) -> _Collector:
    collector = _Collector()
    collector.feed(source)
    collector.close()
    return collector


def hrefs(source: str) -> list[str]:
    return [value or "" for tag, attrs in parse(source).tags if tag == "a" for name, value in attrs if name == "href"]


# ------------------------------------------------------------------------------------------ slots & fallbacks


def test_slots_render_personal_data() -> None:
    email = render()
    assert email.subject == "Ana, Acme ran 42 reports"
    assert "<p>Hi Ana,</p>" in email.html
    assert "Acme ran 42 reports." in email.html


@pytest.mark.parametrize("missing", [None, "", "   ", float("nan"), True])
def test_missing_data_renders_the_fallback(missing: object) -> None:
    email = render(ctx=context(account_name=missing, first_name=missing, reports=missing))
    assert email.subject == "there, your team ran several reports"
    assert "Hi there," in email.html and "your team ran several reports" in email.html
    for text in (email.subject, email.html, email.text):
        assert "None" not in text and "nan" not in text and "True" not in text


def test_missing_sections_render_fallbacks() -> None:
    email = render(ctx={"contact": {"contact_id": "c1"}})
    assert email.subject == "there, your team ran several reports"


def test_first_name_is_derived_from_the_contact_name() -> None:
    ctx = context()
    del ctx["contact"]["first_name"]
    ctx["contact"]["name"] = "Beatriz  de Souza"
    assert render(ctx=ctx).subject.startswith("Beatriz, ")


def test_numbers_are_printed_for_people() -> None:
    assert render(ctx=context(reports=42.0)).subject.endswith("ran 42 reports")
    assert render(ctx=context(reports=0.8333)).subject.endswith("ran 0.83 reports")
    assert render(ctx=context(reports=0)).subject.endswith("ran 0 reports")  # zero is data, not missing


def test_slot_without_fallback_is_refused_at_load_time() -> None:
    body = BODY.replace("{{ account.name }} ran", "{{ account.industry }} ran")
    with pytest.raises(ConfigError, match=r"t\.html\.j2:11: slot 'account\.industry' has no fallback"):
        template(body=body)


def test_undeclared_names_and_whole_sections_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"unknown name.*secret_sauce"):
        template(body=BODY + "{{ secret_sauce }}")
    with pytest.raises(ConfigError, match="not the whole 'account' section"):
        template(body=BODY + "{{ account }}")
    with pytest.raises(ConfigError, match="literal field name"):
        template(body=BODY + "{% set k = 'name' %}{{ account[k] }}")


def test_long_values_are_truncated() -> None:
    email = render(ctx=context(account_name="A" * 500))
    assert "A" * 79 + "…" in email.html and "A" * 80 not in email.html
    short = FRONT.replace("---\n<", "<").replace("fallbacks:", "max_lengths: {account.name: 10}\nfallbacks:", 1)
    email = render(template(front=short), context(account_name="Wonderful Widgets International"))
    assert "Wonderful…" in email.html


# ----------------------------------------------------------------------------------------------- hostile data


HOSTILE = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "' onmouseover='alert(1)",
    "{{ 7*7 }}",
    "{% raw %}",
    "{{ cycler.__init__.__globals__ }}",
    "&lt;b&gt; &amp;",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_text_in_html(name: str) -> None:
    email = render(ctx=context(account_name=name))
    assert "<script" not in email.html and "<img src=x" not in email.html
    document = parse(email.html)
    assert [tag for tag, _ in document.tags] == [tag for tag, _ in parse(render().html).tags]
    assert name in "".join(document.text)
    assert not any(name in (value or "") for _, attrs in document.tags for _, value in attrs)


def test_no_template_injection_from_data() -> None:
    email = render(ctx=context(account_name="{{ 7*7 }}", first_name="{% raw %}"))
    assert "{{ 7*7 }}" in email.html and "49" not in email.html
    assert email.subject == "{% raw %}, {{ 7*7 }} ran 42 reports"


@pytest.mark.parametrize("evil", ["Acme\r\nBcc: victim@example.com", "Acme\nX-Evil: 1", "Acme\rX", "A\x00\x1b\u2028B",
                                  "A\u202egnp.exe"])
def test_control_characters_and_crlf_never_reach_the_subject(evil: str) -> None:
    email = render(ctx=context(account_name=evil))
    assert "\r" not in email.subject and "\n" not in email.subject
    assert all(ord(char) >= 0x20 and char not in "\u2028\u2029\u202e" for char in email.subject)
    assert email.subject.startswith("Ana, A")


def test_crlf_from_the_subject_template_itself_is_folded() -> None:
    front = FRONT.replace('subject: "{{ contact.first_name }},',
                          'subject: "Line one\\r\\nBcc: x@y.z {{ contact.first_name }},')
    assert render(template(front=front)).subject.startswith("Line one Bcc: x@y.z Ana,")


# Markup characters and tag-like pieces are mixed in: uniform random text almost never spells a tag.
_NAMES = st.lists(st.one_of(st.characters(), st.sampled_from(list("<>\"'&=/;# ")),
                            st.sampled_from(["<b>", "<a href=", "<script>", "</p>", "&amp;", "&#60;", "{{", "\r\n"])),
                  max_size=40).map("".join)


@given(_NAMES)
def test_any_account_name_is_only_ever_text(name: str) -> None:
    email = render(ctx=context(account_name=name))
    document = parse(email.html)
    baseline = parse(render(ctx=context(account_name="Acme")).html)
    # Same tags with the same attributes as a harmless name: the name created no tag and no attribute.
    assert document.tags == baseline.tags
    cleaned = clean_slot_text(name)
    if cleaned:
        assert cleaned in "".join(document.text)
    assert "\n" not in email.subject and "\r" not in email.subject


# ------------------------------------------------------------------------------------------------------- CTA


def test_exactly_one_cta_is_enforced_at_load_time() -> None:
    with pytest.raises(ConfigError, match=r"exactly one link to the CTA .* \(found 0\)"):
        template(body=BODY.replace('href="{{ cta.url }}"', 'href="https://example.com/other"'))
    with pytest.raises(ConfigError, match=r"\(found 2\)"):
        template(body=BODY + '<a href="{{ cta.url }}">again</a>')


def test_cta_hidden_behind_a_data_condition_fails_at_render() -> None:
    body = BODY.replace('<p><a href="{{ cta.url }}"',
                        '{% if features.reports_events_28d == "several" %}<p><a href="{{ cta.url }}"')
    body = body.replace("{{ cta.label }}</a></p>", "{{ cta.label }}</a></p>{% endif %}")
    tpl = template(body=body)  # the rehearsal with fallbacks has the CTA
    with pytest.raises(ConfigError, match=r"found 0"):
        render(tpl)


@pytest.mark.parametrize("cta", ["{label: Go}", "{label: Go, url: 'javascript:alert(1)'}", "{label: '', url: 'https://x.y'}",
                                 "[{label: A, url: 'https://a.b'}, {label: B, url: 'https://c.d'}]"])
def test_bad_cta_declarations_are_refused(cta: str) -> None:
    front = re.sub(r"^cta: .*$", f"cta: {cta}", FRONT, flags=re.M)
    with pytest.raises(ConfigError, match=r"t\.html\.j2:3: `cta"):
        template(front=front)


# ------------------------------------------------------------------------------------------ tracking & unsubscribe


def test_links_are_tracked_and_verifiable() -> None:
    email = render()
    links = hrefs(email.html)
    tracked = [link for link in links if link.startswith(f"{BASE}/t/c/")]
    assert [verify_click(link.rsplit("/", 1)[1], SECRET) for link in tracked] == [
        ("msg-1", "https://app.example.com/schedule?src=t"),
        ("msg-1", "https://example.com/help"),
    ]
    assert "mailto:help@example.com" in links  # not a web link: left alone
    assert 'class="button"' in email.html  # other attributes survive the rewrite
    assert "https://app.example.com/schedule" not in email.html


def test_open_pixel_is_present_and_verifiable() -> None:
    email = render()
    pixels = [dict(attrs) for tag, attrs in parse(email.html).tags if tag == "img"]
    assert len(pixels) == 1
    pixel = pixels[0]
    assert (pixel["width"], pixel["height"], pixel["alt"]) == ("1", "1", "")
    src = pixel["src"] or ""
    assert src.startswith(f"{BASE}/t/o/") and verify_open(src.rsplit("/", 1)[1], SECRET) == "msg-1"
    assert email.html.index("<img") < email.html.index("</body>")


def test_tampered_tracking_token_is_rejected() -> None:
    link = next(link for link in hrefs(render().html) if "/t/c/" in link)
    token = link.rsplit("/", 1)[1]
    payload, signature = token.split(".")
    with pytest.raises(InvalidToken):
        verify_click(payload[:-2] + ("A" if payload[-2] != "A" else "B") + payload[-1] + "." + signature, SECRET)


def test_unsubscribe_headers_follow_rfc_8058() -> None:
    email = render(unsubscribe_mailto="unsubscribe@example.com")
    assert email.headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    match = re.fullmatch(rf"<({re.escape(BASE)}/u/([A-Za-z0-9_.-]+))>, <mailto:unsubscribe@example.com>",
                         email.headers["List-Unsubscribe"])
    assert match is not None
    assert verify_unsubscribe(match.group(2), SECRET) == ("c1", "email", "msg-1")
    # The body's unsubscribe link is the same signed URL, and is not turned into a tracked click.
    assert match.group(1) in hrefs(email.html)
    assert all("\n" not in value and "\r" not in value for value in email.headers.values())


def test_unsubscribe_needs_a_contact_and_a_clean_mailto() -> None:
    with pytest.raises(UsageError, match="contact_id"):
        render(ctx={"account": {"name": "Acme"}})
    assert "mailto" not in render().headers["List-Unsubscribe"]
    with pytest.raises(UsageError, match="plain address"):
        render(unsubscribe_mailto="a@b.c>\r\nBcc: x@y.z")


def test_base_url_must_be_http() -> None:
    with pytest.raises(UsageError, match="base_url"):
        render(base_url="javascript:alert(1)")


# ----------------------------------------------------------------------------------------------------- text part


def test_text_part_has_no_tags_and_shows_the_cta_url() -> None:
    email = render()
    assert "<" not in email.text and ">" not in email.text
    assert "Schedule a report (https://app.example.com/schedule?src=t)" in email.text
    assert "Hi Ana," in email.text and "Acme ran 42 reports." in email.text
    assert "Write to us (help@example.com)" in email.text


def test_html_to_text_drops_head_and_keeps_structure() -> None:
    text = html_to_text("<html><head><title>T</title><style>p{}</style></head><body><h1>Hello</h1>"
                        "<ul><li>one</li><li>two &amp; three</li></ul><p>a<br>b</p></body></html>")
    assert text == "Hello\n\n- one\n- two & three\n\na\nb\n"


# -------------------------------------------------------------------------------------------------- loading


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.html.j2"
    path.write_text(FRONT + "<p>fine</p>\n<p>{{ account.name </p>\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"{re.escape(str(path))}:10: template syntax error"):
        load_template(path)


def test_subject_syntax_error_names_its_line() -> None:
    front = FRONT.replace('subject: "{{ contact.first_name }},', 'subject: "{% if %}')
    with pytest.raises(ConfigError, match=r"t\.html\.j2:2: template syntax error"):
        template(front=front)


@pytest.mark.parametrize(("source", "message"), [
    ("<p>no front matter</p>", r":1: a template starts with `---`"),
    ("---\nsubject: x\n", r":1: .*never closed"),
    ("---\nsubject: [x\n---\n", r":\d: the front matter is not valid YAML"),
    ("---\nsubject: x\ncta: {label: a, url: 'https://a.b'}\nfallback: {}\n---\n", r":4: unknown front matter key"),
    ("---\nsubject: ''\ncta: {label: a, url: 'https://a.b'}\n---\n", r":2: `subject` must be"),
])
def test_bad_front_matter_is_a_config_error(source: str, message: str) -> None:
    from longtail.channels.render import parse_template

    with pytest.raises(ConfigError, match=message):
        parse_template(source, name="x", source_name="x.j2")


def test_example_templates_load_and_render() -> None:
    templates = load_templates(EXAMPLES)
    assert {"welcome", "we_noticed", "renewal_value_summary", "webinar_invite"} <= set(templates)
    for tpl in templates.values():
        email = render(tpl, context(account_name="<b>Acme</b>", first_name="Ana"))
        assert "<b>Acme" not in email.html and email.subject and "\n" not in email.subject
        assert tpl.cta.url in email.text and "<" not in email.text.replace("<b>Acme</b>", "")


def test_workspace_without_templates_folder_has_none(tmp_path: Path) -> None:
    from longtail.channels.render import load_workspace_templates

    assert load_workspace_templates(tmp_path) == {}
    folder = tmp_path / "motion" / "templates"
    folder.mkdir(parents=True)
    (folder / "welcome.html.j2").write_text(FRONT + BODY, encoding="utf-8")
    (folder / "welcome.j2").write_text(FRONT + BODY, encoding="utf-8")
    with pytest.raises(ConfigError, match="second template named 'welcome'"):
        load_workspace_templates(tmp_path)
