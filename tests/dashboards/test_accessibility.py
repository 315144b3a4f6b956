"""Every page a signed-in person uses: labelled controls, one heading to start, a skip link, contrast."""

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings

from healthdata.models import Goal
from integrations.models import Connection
from tests.dashboards.data import seed

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/data/activity/?range=week",
    "/data/heart/?range=day",
    "/preferences/",
    "/goals/",
    "/connections/",
    "/connections/{connection}/",
    "/imports/",
    "/imports/new/",
    "/account/",
    "/account/delete",
]
CONTROLS = {"input", "select", "textarea"}
UNLABELLED_INPUTS = {"hidden", "submit", "button", "reset"}
# Text colour and the background it sits on (static/css/app.css :root), each at least WCAG AA.
CONTRAST_PAIRS = [
    ("--fg", "--bg"),
    ("--fg", "--card"),
    ("--muted", "--bg"),
    ("--muted", "--card"),
    ("--accent", "--card"),
    ("--accent", "--bg"),
    ("--accent-fg", "--accent"),
    ("--warn-fg", "--warn-bg"),
    ("--error-fg", "--error-bg"),
    ("--ok", "--card"),
]


class PageOutline(HTMLParser):
    """The page's controls and how each is labelled, its headings, buttons and landmarks."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict] = []
        self.label_targets: set[str] = set()
        self.label_depth = 0
        self.h1_count = 0
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.buttons: list[dict] = []
        self.html_lang = ""
        self._button: dict | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.add(attributes["id"])
        if tag == "html":
            self.html_lang = attributes.get("lang") or ""
        elif tag == "label":
            self.label_depth += 1
            if attributes.get("for"):
                self.label_targets.add(attributes["for"])
        elif tag == "h1":
            self.h1_count += 1
        elif tag == "a":
            self.links.append(attributes.get("href") or "")
        elif tag == "button":
            self._button = {"attrs": attributes, "text": ""}
            self.buttons.append(self._button)
        if tag in CONTROLS and (attributes.get("type") or "text") not in UNLABELLED_INPUTS:
            self.controls.append({**attributes, "tag": tag, "wrapped": self.label_depth > 0})

    def handle_endtag(self, tag: str) -> None:
        if tag == "label":
            self.label_depth -= 1
        elif tag == "button":
            self._button = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button["text"] += data

    def unlabelled(self) -> list[dict]:
        return [
            control
            for control in self.controls
            if not (
                control["wrapped"]
                or control.get("id") in self.label_targets
                or control.get("aria-label")
                or control.get("aria-labelledby")
            )
        ]


def outline_of(client, url: str) -> PageOutline:
    response = client.get(url)
    assert response.status_code == 200, url
    outline = PageOutline()
    outline.feed(response.content.decode())
    return outline


@pytest.fixture
def page_urls(client, user):
    seed(user, days=3)
    Goal.objects.create(user=user, metric="steps", target=10_000)
    connection = Connection.objects.create(
        user=user, provider="oura", status="error", last_error="Server down"
    )
    client.force_login(user)
    return [url.format(connection=connection.pk) for url in PAGES]


def test_every_control_has_a_label_and_every_button_a_name(client, page_urls):
    checked = 0
    for url in page_urls:
        outline = outline_of(client, url)
        checked += len(outline.controls)
        assert outline.unlabelled() == [], url
        nameless = [b for b in outline.buttons if not b["text"].strip() and not b["attrs"].get("aria-label")]
        assert nameless == [], url
    assert checked >= 10  # the goal, import, account and delete forms were all seen


def test_every_page_has_one_main_heading_a_language_and_a_skip_link_to_the_content(client, page_urls):
    for url in page_urls:
        outline = outline_of(client, url)
        assert outline.h1_count == 1, url
        assert outline.html_lang == "en", url
        assert outline.links[0] == "#main" and "main" in outline.ids, url


def relative_luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_text_colours_reach_wcag_aa_contrast_on_their_backgrounds():
    css = (Path(settings.BASE_DIR) / "static" / "css" / "app.css").read_text()
    colours = dict(re.findall(r"(--[a-z-]+):\s*(#[0-9a-fA-F]{6})", css))

    ratios = {
        (text, background): contrast(colours[text], colours[background])
        for text, background in CONTRAST_PAIRS
    }

    assert {pair: round(ratio, 2) for pair, ratio in ratios.items() if ratio < 4.5} == {}
