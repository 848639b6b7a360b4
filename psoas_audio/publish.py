"""Built tracks -> a site to open from disk or upload anywhere: a page with a player per track,
a podcast feed, and a chapters file per track. Pure: tracks in, (file name, kind, bytes) out.

Nothing on the page is fetched from elsewhere: no CDN, no web fonts, the script inline.
"""

from __future__ import annotations

import datetime
import html
import json
import math
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

from . import files
from .cover import generated_cover
from .durations import short_clock
from .errors import UsageError
from .pcm import to_seconds
from .pipeline import Built
from .routine import DEFAULT_GENRE

PAGE, FEED, COVER = "index.html", "feed.xml", "cover.jpg"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
ATOM = "http://www.w3.org/2005/Atom"
# Podcasting 2.0: podcast:guid is a UUIDv5 of the feed's address (no scheme, no trailing /)
# in this namespace, so any app can work it out from the address alone.
PODCAST_GUID_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
CHAPTERS_VERSION = "1.2.0"

Output = tuple[str, files.Kind, bytes]  # a file name in the site, its kind, its bytes


@dataclass(frozen=True)
class Track:
    """One built routine, as the site shows it."""

    stem: str  # the routine file's stem: names its files and, with the feed, its guid
    built: Built
    size: int  # bytes of the MP3: an enclosure states it exactly


@dataclass(frozen=True)
class Channel:
    title: str
    author: str | None
    description: str
    language: str
    base_url: str | None  # absolute, ending in /; without it there is no feed


def check_base_url(base_url: str) -> None:
    """A web folder the site's files will sit in: https://host/path/, no query or fragment."""
    parts = urlsplit(base_url)
    problem = None
    if parts.scheme not in ("https", "http") or not parts.netloc:
        problem = "expected an address like https://example.org/psoas/"
    elif parts.query or parts.fragment or base_url.endswith(("?", "#")):
        problem = "the address of a folder has no ?query or #fragment"
    elif any(char.isspace() or char in '<>"' or not char.isprintable() for char in base_url):
        problem = "an address has no spaces, quotes or angle brackets (write %20 for a space)"
    if problem:
        raise UsageError(f"--base-url {base_url}: {problem}")


def channel_for(
    tracks: Sequence[Track], base_url: str | None, title: str | None, description: str | None
) -> Channel:
    """The site's own title and words: given, else what the tracks share."""
    authors = sorted({t.built.artist for t in tracks if t.built.artist})
    author = ", ".join(authors) or None
    if title is None:
        title = f"Routines by {author}" if author else "Voice-guided routines"
    languages = {t.built.language for t in tracks}
    language = (languages.pop() if len(languages) == 1 else None) or "en"
    count = f"{len(tracks)} track{'' if len(tracks) == 1 else 's'}"
    words = description or f"Voice-guided body-work routines to follow with eyes closed: {count}."
    if base_url is not None and not base_url.endswith("/"):
        base_url += "/"
    return Channel(title, author, words, language, base_url)


def site(tracks: Sequence[Track], channel: Channel, previous_feed: bytes | None) -> list[Output]:
    """Every file of the site but the MP3s, transcripts and playlist the batch wrote."""
    outputs: list[Output] = [(COVER, files.JPEG, generated_cover(channel.title, channel.author))]
    for track in tracks:
        tags = track.built.tags
        if tags and tags.cover:
            outputs.append((f"{track.stem}.jpg", files.JPEG, tags.cover))
        outputs.append((f"{track.stem}.chapters.json", files.CHAPTERS, chapters_json(track)))
    outputs.append((PAGE, files.HTML, page(tracks, channel).encode()))
    if channel.base_url:
        outputs.append((FEED, files.RSS, feed(tracks, channel, previous_feed)))
    return outputs


def own_files(feed: bool) -> list[tuple[str, files.Kind]]:
    """The site's own files that site() writes, known before any build, to be checked first."""
    return [(COVER, files.JPEG), (PAGE, files.HTML)] + ([(FEED, files.RSS)] if feed else [])


def track_files(stem: str) -> list[tuple[str, files.Kind]]:
    """The files site() writes for one track, beside its MP3 and transcript."""
    return [(f"{stem}.jpg", files.JPEG), (f"{stem}.chapters.json", files.CHAPTERS)]


def chapters_json(track: Track) -> bytes:
    """Podcasting 2.0 JSON chapters: where each chapter starts, in seconds."""
    chapters = track.built.tags.chapters if track.built.tags else ()
    document = {
        "version": CHAPTERS_VERSION,
        "chapters": [
            {"startTime": round(to_seconds(c.start), 3), "title": c.title} for c in chapters
        ],
    }
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()


# -- the feed -----------------------------------------------------------------------------------


def feed(tracks: Sequence[Track], channel: Channel, previous: bytes | None) -> bytes:
    """RSS 2.0 with the itunes and Podcasting 2.0 namespaces, for podcast apps.

    An item's guid comes from the feed's address and the routine's file name, so it survives
    rebuilds and edits; its pubDate is kept from the previous feed, so apps see no new episodes.
    """
    assert channel.base_url is not None
    base = channel.base_url
    for prefix, uri in (("itunes", ITUNES), ("podcast", PODCAST), ("atom", ATOM)):
        ET.register_namespace(prefix, uri)
    rss = ET.Element("rss", {"version": "2.0"})
    ch = ET.SubElement(rss, "channel")
    _text(ch, "title", channel.title)
    _text(ch, "link", base)
    _text(ch, "description", channel.description)
    _text(ch, "language", channel.language)
    _text(ch, "generator", "psoas-audio")
    ET.SubElement(ch, f"{{{ATOM}}}link",
                  {"href": base + FEED, "rel": "self", "type": "application/rss+xml"})  # fmt: skip
    ET.SubElement(ch, f"{{{ITUNES}}}image", {"href": base + COVER})
    image = ET.SubElement(ch, "image")
    for tag, value in (("url", base + COVER), ("title", channel.title), ("link", base)):
        _text(image, tag, value)
    category = ET.SubElement(ch, f"{{{ITUNES}}}category", {"text": DEFAULT_GENRE})
    ET.SubElement(category, f"{{{ITUNES}}}category", {"text": "Fitness"})
    _text(ch, f"{{{ITUNES}}}explicit", "false")
    _text(ch, f"{{{ITUNES}}}type", "serial")
    if channel.author:
        _text(ch, f"{{{ITUNES}}}author", channel.author)
    _text(ch, f"{{{PODCAST}}}guid", str(podcast_guid(base + FEED)))
    dates = _previous_dates(previous)
    today = datetime.datetime.now(datetime.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for episode, track in enumerate(tracks, start=1):
        built, guid = track.built, item_guid(base, track.stem)
        item = ET.SubElement(ch, "item")
        _text(item, "title", built.title)
        about = built.tags.comment if built.tags and built.tags.comment else None
        _text(item, "description", about or f"{built.title}: {short_clock(built.seconds)}.")
        enclosure = {"url": base + quote(f"{track.stem}.mp3"), "length": str(track.size),
                     "type": "audio/mpeg"}  # fmt: skip
        ET.SubElement(item, "enclosure", enclosure)
        _text(item, "guid", guid, isPermaLink="false")
        published = dates.get(guid) or today + datetime.timedelta(minutes=episode)
        _text(item, "pubDate", format_datetime(published))
        _text(item, f"{{{ITUNES}}}duration", str(round(built.seconds)))
        _text(item, f"{{{ITUNES}}}episode", str(episode))
        _text(item, f"{{{ITUNES}}}explicit", "false")
        if built.artist:
            _text(item, f"{{{ITUNES}}}author", built.artist)
        if built.tags and built.tags.cover:
            ET.SubElement(item, f"{{{ITUNES}}}image", {"href": base + quote(f"{track.stem}.jpg")})
        ET.SubElement(item, f"{{{PODCAST}}}chapters", {
            "url": base + quote(f"{track.stem}.chapters.json"), "type": "application/json+chapters"
        })  # fmt: skip
        ET.SubElement(item, f"{{{PODCAST}}}transcript", {
            "url": base + quote(f"{track.stem}.vtt"), "type": "text/vtt"
        })  # fmt: skip
    ET.indent(rss)
    text: bytes = ET.tostring(rss, encoding="utf-8", xml_declaration=True)
    return text + b"\n"


def podcast_guid(feed_url: str) -> uuid.UUID:
    address = feed_url.split("://", 1)[-1].rstrip("/")
    return uuid.uuid5(PODCAST_GUID_NAMESPACE, address)


def item_guid(base_url: str, stem: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{base_url}{stem}"))


def _previous_dates(previous: bytes | None) -> dict[str, datetime.datetime]:
    """guid -> pubDate from the feed this one replaces; nothing if there is none, or it is bad."""
    if not previous:
        return {}
    try:
        root = ET.fromstring(previous)  # our own file, already sniffed as RSS
    except ET.ParseError:
        return {}
    dates = {}
    for item in root.iter("item"):
        guid, date = item.findtext("guid"), item.findtext("pubDate")
        if guid and date:
            try:
                dates[guid] = parsedate_to_datetime(date)
            except (TypeError, ValueError):
                continue
    return dates


def _text(parent: ET.Element, tag: str, text: str, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attributes)
    element.text = text
    return element


# -- the page -----------------------------------------------------------------------------------


def page(tracks: Sequence[Track], channel: Channel) -> str:
    """One card per track: cover, words, a player, chapter links that seek it, the transcript."""
    cards = "\n".join(_card(track) for track in tracks)
    feed_link = (
        f'<p class="feed"><a href="{FEED}">Podcast feed</a>: paste '
        f"<code>{html.escape(channel.base_url + FEED)}</code> into a podcast app.</p>"
        if channel.base_url
        else ""
    )
    return PAGE_TEMPLATE.format(
        language=html.escape(channel.language),
        title=html.escape(channel.title),
        description=html.escape(channel.description),
        feed=feed_link,
        cards=cards,
        script=SCRIPT,
        style=STYLE,
    )


def _card(track: Track) -> str:
    built, stem = track.built, track.stem
    ident = "track-" + "".join(c if c.isalnum() else "-" for c in stem)
    title = html.escape(built.title)
    length = short_clock(math.floor(built.seconds))  # as its player shows it: whole seconds gone
    meta = length + (f" · {html.escape(built.artist)}" if built.artist else "")
    tags = built.tags
    cover = (
        f'<img class="cover" src="{quote(stem + ".jpg")}" alt="" width="160" height="160">'
        if tags and tags.cover
        else ""
    )
    description = f"<p>{html.escape(tags.comment)}</p>" if tags and tags.comment else ""
    chapters = tags.chapters if tags else ()
    chapter_items = "\n".join(
        f'<li><a href="{quote(stem + ".mp3")}#t={to_seconds(c.start):.3f}" '
        f'data-start="{to_seconds(c.start):.3f}" '
        f'aria-label="Play {title} from {short_clock(to_seconds(c.start))}: '
        f'{html.escape(c.title)}"><time>{short_clock(to_seconds(c.start))}</time> '
        f"{html.escape(c.title)}</a></li>"
        for c in chapters
    )
    chapter_list = (
        f'<nav aria-label="Chapters of {title}"><h3>Chapters</h3>'
        f'<ol class="chapters">\n{chapter_items}\n</ol></nav>'
        if chapters
        else ""
    )
    lines = "\n".join(
        f"<li><time>{short_clock(start)}</time> {html.escape(text)}</li>"
        for start, text in built.lines
    )
    return f"""<article class="track" id="{ident}" aria-labelledby="{ident}-title">
<div class="head">{cover}<div>
<h2 id="{ident}-title">{title}</h2>
<p class="meta">{meta}</p>
{description}
</div></div>
<audio controls preload="metadata" src="{quote(stem + ".mp3")}" aria-label="{title}"></audio>
{chapter_list}
<details><summary>Transcript</summary>
<ol class="transcript">
{lines}
</ol>
<p><a href="{quote(stem + ".vtt")}">Transcript as WebVTT</a></p>
</details>
</article>"""


STYLE = """
:root { color-scheme: light dark; --ink: #1f2a33; --soft: #5b6b70; --card: #f6f3ec;
  --accent: #3f6f73; --page: #e9e6de; }
@media (prefers-color-scheme: dark) { :root { --ink: #ece8df; --soft: #b4bfbd; --card: #24313a;
  --accent: #9fc9c4; --page: #182228; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--page); color: var(--ink);
  font: 1.05rem/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
main { max-width: 46rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.7rem; margin: 0.5rem 0 0.25rem; }
.track { background: var(--card); border-radius: 14px; padding: 1rem; margin: 1rem 0; }
.head { display: flex; gap: 1rem; align-items: flex-start; }
.cover { width: 6.5rem; height: 6.5rem; border-radius: 10px; flex: none; }
h2 { font-size: 1.3rem; margin: 0; }
h3 { font-size: 1rem; margin: 1rem 0 0.25rem; }
.meta { color: var(--soft); margin: 0.2rem 0; }
audio { width: 100%; margin-top: 0.75rem; }
ol { padding-left: 0; list-style: none; margin: 0; }
.chapters a { display: block; padding: 0.55rem 0.25rem; color: var(--accent);
  text-decoration: none; border-radius: 6px; min-height: 44px; }
.chapters a:hover, .chapters a:focus-visible { background: rgba(127, 127, 127, 0.15); }
a:focus-visible, summary:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
time { font-variant-numeric: tabular-nums; color: var(--soft); margin-right: 0.5rem; }
details { margin-top: 0.75rem; }
summary { cursor: pointer; padding: 0.5rem 0; min-height: 44px; }
.transcript li { padding: 0.2rem 0; }
.feed code { overflow-wrap: anywhere; }
a { color: var(--accent); }
"""

SCRIPT = """
document.addEventListener("click", function (event) {
  var link = event.target.closest("a[data-start]");
  if (!link) return;
  var player = link.closest("article").querySelector("audio");
  event.preventDefault();
  player.currentTime = parseFloat(link.dataset.start);
  var playing = player.play();
  if (playing && playing.catch) playing.catch(function () {});
  player.focus();
});
"""

PAGE_TEMPLATE = """<!doctype html>
<html lang="{language}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="data:,">
<style>{style}</style>
</head>
<body>
<main>
<header>
<h1>{title}</h1>
<p>{description}</p>
{feed}
</header>
{cards}
</main>
<script>{script}</script>
</body>
</html>
"""


def read_previous(path: Path) -> tuple[bytes | None, str | None]:
    """The feed a publish will replace, for its address and its episodes' dates; and what is
    wrong with it when it cannot be read (its dates are then lost, and that is said)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"{path}: cannot be read ({exc.strerror}); episodes get new dates"
    if not files.RSS.sniff(data[: files.SNIFF_BYTES]):
        return None, None  # not a feed: the publish refuses to replace it, and says so
    try:
        ET.fromstring(data)
    except ET.ParseError as exc:
        return None, f"{path}: not a whole feed ({exc}); its episodes get new dates"
    return data, None


def feed_base_url(feed: bytes) -> str | None:
    """The address a feed says it lives at (its channel's link)."""
    link = ET.fromstring(feed).findtext("channel/link")
    if not link:
        return None
    try:
        check_base_url(link)
    except UsageError:
        return None
    return link
