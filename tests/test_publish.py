"""publish: a page, a podcast feed and chapters files, read back as apps and browsers read them."""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By

from conftest import TESTS
from measure import id3_frames
from psoas_audio.publish import ITUNES
from test_faults import finish, start

GOLDEN = TESTS / "golden"
ROUTINES = [GOLDEN / "lunge-mini.yaml", GOLDEN / "nested-sections.yaml"]
BASE = "https://example.org/psoas/"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def publish(site: Path, *args: str | Path, cache: Path, ok: bool = True) -> tuple[int, str, str]:
    process = start("publish", *ROUTINES, "--engine", "fake", "--site", site, *args, cache=cache)
    code, out, err = finish(process, timeout=300)
    if ok:
        assert code == 0, err
    return code, out, err


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("published") / "site"
    publish(folder, "--base-url", BASE, cache=tmp_path_factory.mktemp("cache"))
    return folder


def test_publish_writes_the_page_the_feed_the_tracks_and_their_files(site: Path) -> None:
    assert sorted(path.name for path in site.iterdir()) == [
        "cover.jpg", "feed.xml", "index.html",
        "lunge-mini.chapters.json", "lunge-mini.jpg", "lunge-mini.mp3", "lunge-mini.vtt",
        "nested-sections.chapters.json", "nested-sections.jpg", "nested-sections.mp3",
        "nested-sections.vtt", "playlist.m3u",
    ]  # fmt: skip


def test_the_feed_is_a_podcast_feed_with_exact_enclosures_chapters_and_transcripts(
    site: Path,
) -> None:
    parsed = feedparser.parse((site / "feed.xml").read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    channel = parsed.feed
    assert channel.title == "Routines by Tests"
    assert channel.language == "en"
    raw = ET.fromstring((site / "feed.xml").read_bytes()).find("channel")
    assert raw is not None and raw.findtext(f"{{{ITUNES}}}explicit") == "false"
    assert channel.image.href == BASE + "cover.jpg"
    assert [t.term for t in channel.tags] == ["Health & Fitness", "Fitness"]
    assert channel.podcast_guid  # Podcasting 2.0, from the feed's address
    assert [e.itunes_episode for e in parsed.entries] == ["1", "2"]
    for entry, routine in zip(parsed.entries, ROUTINES, strict=True):
        mp3 = site / f"{routine.stem}.mp3"
        [enclosure] = entry.enclosures
        assert enclosure.href == BASE + mp3.name and enclosure.type == "audio/mpeg"
        assert int(enclosure.length) == mp3.stat().st_size
        chapters = json.loads((site / f"{routine.stem}.chapters.json").read_text())
        tagged = sorted(id3_frames(mp3, "CHAP"), key=lambda frame: frame.start_time)
        assert [(c["title"], round(c["startTime"] * 1000)) for c in chapters["chapters"]] == [
            (frame.sub_frames["TIT2"].text[0], frame.start_time) for frame in tagged
        ]
        duration = (tagged[-1].end_time / 1000) if tagged else None
        assert duration is None or int(entry.itunes_duration) == round(duration)
        assert entry.podcast_chapters["url"] == BASE + f"{routine.stem}.chapters.json"
        assert entry.podcast_transcript["url"] == BASE + f"{routine.stem}.vtt"


def test_guids_and_dates_stay_the_same_when_published_again(site: Path, tmp_path: Path) -> None:
    again = tmp_path / "site"
    shutil.copytree(site, again)
    before = feedparser.parse((again / "feed.xml").read_bytes())
    publish(again, "--base-url", BASE, cache=tmp_path / "cache")
    after = feedparser.parse((again / "feed.xml").read_bytes())
    assert [(e.id, e.published) for e in after.entries] == [
        (e.id, e.published) for e in before.entries
    ]
    assert len({e.id for e in after.entries}) == 2


def test_without_a_base_url_the_site_is_written_and_the_feed_is_explained(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "site"
    _, out, err = publish(folder, cache=tmp_path / "cache")
    assert (folder / "index.html").is_file() and not (folder / "feed.xml").exists()
    assert "needs" not in out and "--base-url" in err
    assert err.splitlines()[-1].startswith("note: no feed.xml written: a podcast app can only")


def test_publishing_again_without_a_base_url_keeps_the_feeds_address(
    site: Path, tmp_path: Path
) -> None:
    again = tmp_path / "site"
    shutil.copytree(site, again)
    before = feedparser.parse((again / "feed.xml").read_bytes())
    _, _, err = publish(again, "--rate", "200", cache=tmp_path / "cache")
    assert err.splitlines() == [
        f"note: the feed keeps its address {BASE}, from the feed.xml already there",
        "voice: fake: Calm, 200 wpm",
    ]
    after = feedparser.parse((again / "feed.xml").read_bytes())
    assert [e.id for e in after.entries] == [e.id for e in before.entries]
    for entry, routine in zip(after.entries, ROUTINES, strict=True):  # the new MP3s, exactly
        assert int(entry.enclosures[0].length) == (again / f"{routine.stem}.mp3").stat().st_size


def test_a_damaged_old_feed_is_said_and_replaced(site: Path, tmp_path: Path) -> None:
    again = tmp_path / "site"
    shutil.copytree(site, again)
    feed = again / "feed.xml"
    feed.write_bytes(feed.read_bytes()[:700])
    _, _, err = publish(again, "--base-url", BASE, cache=tmp_path / "cache")
    assert f"note: {feed}: not a whole feed (" in err and "episodes get new dates" in err
    assert not feedparser.parse(feed.read_bytes()).bozo


def snapshot(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def test_a_broken_routine_publishes_nothing_and_the_site_stays_as_it_was(
    site: Path, tmp_path: Path
) -> None:
    again = tmp_path / "site"
    shutil.copytree(site, again)
    before = snapshot(again)
    broken = tmp_path / "nested-sections.yaml"
    broken.write_text(ROUTINES[1].read_text().replace("title:", "titel:"))
    process = start("publish", ROUTINES[0], broken, "--engine", "fake", "--site", again,
                    "--base-url", BASE, cache=tmp_path / "cache")  # fmt: skip
    code, _, err = finish(process, timeout=300)
    assert code == 1 and "unknown key 'titel' (did you mean 'title'?)" in err
    assert err.strip().endswith(
        "nothing was published: every routine must build; the site is as it was"
    )
    assert snapshot(again) == before


def test_an_interrupted_publish_leaves_the_site_as_it_was(site: Path, tmp_path: Path) -> None:
    again = tmp_path / "site"
    shutil.copytree(site, again)
    before = snapshot(again)
    slow = {"FAKE_ENGINE_DELAY": "0.2"}
    process = start("publish", *ROUTINES, "--engine", "fake", "--site", again, "--rate",
                    "190", cache=tmp_path / "cache", env=slow)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        p.name.startswith(".staging") and any(p.iterdir()) for p in again.iterdir()
    ):
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    code, _, err = finish(process, timeout=120)
    assert code == 130
    assert err.strip().endswith("interrupted; nothing was written, and any older file is as it was")
    assert snapshot(again) == before  # no staging folder left either


def test_a_routine_whose_files_would_be_the_sites_own_is_refused(tmp_path: Path) -> None:
    cover = tmp_path / "cover.yaml"
    shutil.copy(ROUTINES[0], cover)
    process = start("publish", cover, "--engine", "fake", "--site", tmp_path / "site",
                    cache=tmp_path / "cache")  # fmt: skip
    code, _, err = finish(process)
    assert code == 1
    assert (
        err.strip()
        == f"{cover}: its cover.jpg would be the site's own cover.jpg; rename the routine"
    )
    assert not (tmp_path / "site").exists()


def test_publish_never_replaces_a_file_that_is_not_its_own(tmp_path: Path) -> None:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "index.html").write_text("my own notes\n")
    code, _, err = publish(folder, "--base-url", BASE, cache=tmp_path / "cache", ok=False)
    assert code == 1
    assert f"{folder / 'index.html'}: exists and is not an HTML page" in err
    assert (folder / "index.html").read_text() == "my own notes\n"
    assert sorted(p.name for p in folder.iterdir()) == ["index.html"]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("example.org", "expected an address like https://example.org/psoas/"),
        ("javascript:alert(1)", "expected an address like https://example.org/psoas/"),
        ("https://example.org/?p=1", "the address of a folder has no ?query or #fragment"),
        ("https://example.org/my site/", "an address has no spaces, quotes or angle brackets"),
    ],
)
def test_a_base_url_must_be_the_address_of_a_folder(tmp_path: Path, url: str, message: str) -> None:
    code, _, err = publish(tmp_path / "site", "--base-url", url, cache=tmp_path / "c", ok=False)
    assert code == 1 and err.strip().startswith(f"--base-url {url}: {message}")
    assert not (tmp_path / "site").exists()


# -- the page, in a real browser ----------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """Debian's Chromium, headless, through Debian's chromedriver: nothing is downloaded."""
    assert CHROMIUM.exists() and CHROMEDRIVER.exists(), "scripts/test installs chromium"
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser or driver
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--mute-audio",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):  # fmt: skip
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 360, "height": 780, "deviceScaleFactor": 2, "mobile": True},
    )
    yield driver
    driver.quit()


def load(browser: WebDriver, page: Path) -> list[dict[str, Any]]:
    """Open the page from disk; every audio element's metadata loaded; the console's messages."""
    browser.get(page.as_uri())
    browser.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        const players = Array.from(document.querySelectorAll("audio"));
        const ready = players.map(p => p.readyState >= 1 ? null :
            new Promise(resolve => p.addEventListener("loadedmetadata", resolve, {once: true})));
        Promise.all(ready).then(() => done());
        """
    )
    logs: list[dict[str, Any]] = browser.get_log("browser")  # type: ignore[no-untyped-call]
    return logs


def test_the_page_loads_from_disk_with_players_that_know_their_lengths(
    site: Path, browser: WebDriver
) -> None:
    logs = load(browser, site / "index.html")
    assert [entry for entry in logs if entry["level"] in ("SEVERE", "WARNING")] == []
    durations = browser.execute_script(
        "return Array.from(document.querySelectorAll('audio')).map(p => p.duration)"
    )
    for seconds, routine in zip(durations, ROUTINES, strict=True):
        frames = id3_frames(site / f"{routine.stem}.mp3", "CHAP")
        length = max(frame.end_time for frame in frames) / 1000
        assert seconds == pytest.approx(length, abs=0.1), routine.name
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360


def test_a_chapter_link_moves_its_own_player_to_the_chapter(
    site: Path, browser: WebDriver, tmp_path: Path
) -> None:
    load(browser, site / "index.html")
    links = browser.find_elements(By.CSS_SELECTOR, "article:first-of-type a[data-start]")
    chapters = json.loads((site / "lunge-mini.chapters.json").read_text())["chapters"]
    assert len(links) == len(chapters) == 3
    name = links[2].accessible_name
    assert name.startswith("Play Lunge mini from 0:") and name.endswith(": Right side")
    start_at = float(links[2].get_attribute("data-start") or "nan")
    assert start_at == chapters[2]["startTime"] > 10
    browser.execute_script("arguments[0].scrollIntoView()", links[2])
    links[2].click()
    now, other = browser.execute_script(
        "const players = document.querySelectorAll('audio'); players[0].pause();"
        "return [players[0].currentTime, players[1].currentTime]"
    )
    assert start_at - 0.05 <= now <= start_at + 1.0 and other == 0
    assert browser.current_url.endswith("index.html")  # the script took the click, not the link
    screenshot = tmp_path / "phone.png"
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(screenshot))
    if os.environ.get("PSOAS_SCREENSHOT"):  # to look at it: PSOAS_SCREENSHOT=phone.png
        shutil.copy(screenshot, os.environ["PSOAS_SCREENSHOT"])


def test_the_transcript_opens_by_keyboard(site: Path, browser: WebDriver) -> None:
    load(browser, site / "index.html")
    summary = browser.find_element(By.CSS_SELECTOR, "article summary")
    details = summary.find_element(By.XPATH, "..")
    assert details.get_attribute("open") is None
    summary.send_keys(" ")
    assert details.get_attribute("open") is not None
    lines = details.find_elements(By.CSS_SELECTOR, ".transcript li")
    assert lines and lines[0].text.startswith("0:01 ")
