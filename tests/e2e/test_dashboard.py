"""The dashboard as an official sees it: the reporting service on a real port, the story's events
on the real broker, and headless Chromium running the page's script and drawing its SVG charts.

Chromium renders the page three times, in parallel: with a viewer's token, once to dump the DOM
after the script ran (the charts are asserted element by element) and once to a PNG screenshot
(decoded here in pure Python, to check that the charts were painted and the page is not blank);
and once without a token, which must show the sign-in form and no data. The screenshot stays in
the test's ``tmp_path`` (``dashboard.png``) for a human to look at.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import struct
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import httpx
import pytest
import uvicorn

from services.reporting.app import create_app
from services.reporting.settings import ReportingSettings
from shared.auth import AuthSettings, issue_token
from shared.broker import free_port
from shared.settings import KafkaSettings
from tests.integration.test_reporting import settled, tell_the_story
from tests.support.platform import Databases, bearer, service_settings

pytestmark = pytest.mark.integration

WIDTH, HEIGHT = 1400, 2200
CHROMIUM_TIMEOUT_S = 90
STATIC = resources.files("services.reporting").joinpath("static")


# ---- the browser and the server -----------------------------------------------------------


@pytest.fixture
def chromium() -> str:
    """Debian's ``chromium``; skipped without it, except in CI where it must be installed."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("CI"):
        pytest.fail("no chromium binary on PATH, but CI is set: .ci/run must install it (apt-get)")
    pytest.skip("no chromium binary on PATH (apt-get install chromium); CI runs this test")


@pytest.fixture
async def dashboard_url(
    kafka: KafkaSettings, databases: Databases, tmp_path: Path
) -> AsyncIterator[str]:
    """The reporting service as uvicorn serves it, on a free port, in the test's event loop."""
    settings = await service_settings(ReportingSettings, kafka, databases, tmp_path)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    async with asyncio.timeout(30):
        while not server.started:
            if task.done():
                task.result()
                raise AssertionError("uvicorn stopped before it started")
            await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=30)


async def render(chromium: str, url: str, profile: Path, *output: str) -> tuple[bytes, str]:
    """Run headless Chromium on ``url`` with 10 s of virtual time (three polls of the API)."""
    command = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        f"--user-data-dir={profile}",
        f"--window-size={WIDTH},{HEIGHT}",
        "--virtual-time-budget=10000",
        *output,
        url,
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "HOME": str(profile)},
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), CHROMIUM_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"chromium did not finish within {CHROMIUM_TIMEOUT_S}s") from None
    log = stderr.decode(errors="replace")
    assert process.returncode == 0, log[-3000:]
    return stdout, log


# ---- a small DOM, to look at what the script drew ------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"}


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Element | str] = []

    def iter(self) -> Iterator[Element]:
        yield self
        for child in self.children:
            if isinstance(child, Element):
                yield from child.iter()

    def find_all(
        self, tag: str | None = None, cls: str | None = None, **attrs: object
    ) -> list[Element]:
        return [
            e
            for e in self.iter()
            if (tag is None or e.tag == tag)
            and (cls is None or cls in e.attrs.get("class", "").split())
            and all(e.attrs.get(k.replace("_", "-")) == str(v) for k, v in attrs.items())
        ]

    def find(self, tag: str | None = None, cls: str | None = None, **attrs: object) -> Element:
        found = self.find_all(tag, cls, **attrs)
        assert found, f"no <{tag or '*'}> class={cls} {attrs} in:\n{self.text()[:1500]}"
        return found[0]

    def text(self) -> str:
        return " ".join(
            " ".join(c.split()) if isinstance(c, str) else c.text() for c in self.children
        ).strip()

    def in_svg(self) -> bool:
        node = self.parent
        while node is not None:
            if node.tag == "svg":
                return True
            node = node.parent
        return False


class Dom(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.root = self.current = Element("#document", {}, None)
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.current.children.append(Element(tag, {k: v or "" for k, v in attrs}, self.current))

    def handle_endtag(self, tag: str) -> None:
        node: Element | None = self.current
        while node is not None and node.tag != tag:
            node = node.parent
        if node is not None and node.parent is not None:
            self.current = node.parent

    def handle_data(self, data: str) -> None:
        self.current.children.append(data)


# ---- a small PNG decoder, to look at what Chromium painted ---------------------------------


def png_rows(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Width, height, bytes per pixel and the unfiltered rows of an 8-bit RGB(A) PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    assert header is not None, "PNG without IHDR"
    width, height, depth, color_type, _, _, interlace = header
    assert depth == 8 and color_type in (2, 6) and interlace == 0, header
    bpp = 3 if color_type == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    assert len(raw) == height * (stride + 1), "truncated image data"
    low = int.from_bytes(b"\x7f" * stride, "big")
    high = int.from_bytes(b"\x80" * stride, "big")
    rows, previous = [], bytes(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]
        if kind == 0:
            row = line
        elif kind == 2:  # up: bytewise sum with the row above, done on big integers (fast)
            a, b = int.from_bytes(line, "big"), int.from_bytes(previous, "big")
            row = (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(stride, "big")
        else:
            out = bytearray(line)
            for i in range(stride):
                left = out[i - bpp] if i >= bpp else 0
                up = previous[i]
                if kind == 1:
                    predicted = left
                elif kind == 3:
                    predicted = (left + up) >> 1
                else:  # paeth
                    corner = previous[i - bpp] if i >= bpp else 0
                    p = left + up - corner
                    pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                    predicted = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                out[i] = (out[i] + predicted) & 0xFF
            row = bytes(out)
        rows.append(row)
        previous = row
    return width, height, bpp, rows


def palette() -> dict[str, bytes]:
    """The chart colours, as the stylesheet defines them (``--blue: #2566ad;``)."""
    css = STATIC.joinpath("dashboard.css").read_text()
    return {
        name: bytes.fromhex(value)
        for name, value in re.findall(r"--([a-z0-9-]+):\s*#([0-9a-fA-F]{6})\s*;", css)
    }


# ---- the test -------------------------------------------------------------------------------


async def test_the_dashboard_draws_the_kpis_in_a_real_browser(
    chromium: str, dashboard_url: str, kafka: KafkaSettings, tmp_path: Path
) -> None:
    await tell_the_story(kafka)
    async with httpx.AsyncClient(base_url=dashboard_url, timeout=10, headers=bearer()) as client:
        national = {
            "value": 4_400_000,
            "unit": "unit IKM",
            "year": 2022,
            "source": "Menperin, rilis 30 Mei 2023",
            "measure": "enterprises",
        }
        put = await client.put("/api/v1/reference-figures/ikm_units_2022", json=national)
        assert put.status_code == 200, put.text
        answers = await settled(client)

        page = await client.get("/dashboard")
        assert page.status_code == 200
        assert "connect-src 'self'" in page.headers["content-security-policy"]
        for name, kind in (("dashboard.js", "javascript"), ("dashboard.css", "css")):
            asset = await client.get(f"/dashboard/static/{name}")
            assert asset.status_code == 200 and kind in asset.headers["content-type"]
            again = await client.get(
                f"/dashboard/static/{name}", headers={"if-none-match": asset.headers["etag"]}
            )
            assert again.status_code == 304
        for bad in ("..%2Fapi.py", "dashboard.py", "missing.js"):
            assert (await client.get(f"/dashboard/static/{bad}")).status_code == 404

    # Self-contained: nothing is loaded from another host (offline ministry network)
    for name in ("dashboard.html", "dashboard.js", "dashboard.css"):
        source = STATIC.joinpath(name).read_text()
        assert not re.findall(r"(?:https?:)?//(?!www\.w3\.org/2000/svg)[a-z0-9.-]+\.[a-z]", source)

    # An official with read-only access; the token travels in the fragment, never to a server
    viewer = issue_token(AuthSettings(), subject="pejabat", roles=["viewer"])
    url = f"{dashboard_url}/dashboard"
    screenshot = tmp_path / "dashboard.png"
    (dom_html, dom_log), (_, shot_log), (anonymous_html, _) = await asyncio.gather(
        render(chromium, f"{url}#token={viewer}", tmp_path / "chromium-dom", "--dump-dom"),
        render(
            chromium,
            f"{url}#token={viewer}",
            tmp_path / "chromium-png",
            f"--screenshot={screenshot}",
        ),
        render(chromium, url, tmp_path / "chromium-anonymous", "--dump-dom"),
    )
    for log in (dom_log, shot_log):  # no script error, no request the page's CSP refused
        console = [line for line in log.splitlines() if "CONSOLE" in line or "Refused" in line]
        assert not console, "\n".join(console)

    # Without a token: the sign-in form, and not one figure
    anonymous = Dom(anonymous_html.decode()).root
    assert "hidden" not in anonymous.find("section", id="signin").attrs
    assert "(401)" in anonymous.find(id="freshness").text()
    assert not anonymous.find_all("svg") and "Jawa Timur" not in anonymous.text()

    dom = Dom(dom_html.decode()).root
    body = dom.find("body")
    assert int(body.attrs["data-refreshed"]) >= 2, "the page did not poll the API again"
    freshness = dom.find(id="freshness").text()
    assert "data per 6 Jan 2025" in freshness and "lag 0 pesan" in freshness, freshness
    tiles = dom.find(id="tiles").text()
    assert "Rp 1,5 M" in tiles and "Rp 700 jt" in tiles and "3 / 3" in tiles, tiles

    # IKM per provinsi: one bar per province of the API's answer, named
    provinces = dom.find("section", id="provinces")
    bars = provinces.find_all("g", cls="province-row")
    assert [b.attrs["data-province"] for b in bars] == [
        r["province_code"] for r in answers["enterprises"]["rows"]
    ]
    east_java = provinces.find("g", cls="province-row", data_province="35")
    assert east_java.in_svg() and "Jawa Timur" in east_java.text()
    assert float(east_java.find("rect", cls="bar-enterprises").attrs["width"]) > 100
    assert "42" in east_java.text()  # workforce
    reference = provinces.find("g", cls="reference", data_reference="ikm_units_2022")
    assert (reference.attrs["data-register"], reference.attrs["data-value"]) == ("2", "4400000")
    assert "4,4 juta unit IKM" in reference.text() and "< 0,01%" in reference.text()

    # Status anggaran: the postponed ISO 14001 line is highlighted, with its reason
    budget = dom.find("section", id="budget")
    postponed = budget.find("g", data_line="L-14001-2025")
    assert (
        "is-postponed" in postponed.attrs["class"] and postponed.attrs["data-status"] == "postponed"
    )
    assert "DITUNDA" in postponed.text() and "anggaran ditunda" in postponed.text()
    assert postponed.find_all("rect", cls="postponed-frame")
    assert {s.attrs["class"].split()[1] for s in postponed.find_all("g", cls="segment")} == {
        "seg-reserved",
        "seg-remaining",
    }
    open_line = budget.find("g", data_line="L-9001-2025")
    assert "serapan 5%" in open_line.text() and "Rp 800 jt" in open_line.text()

    # Corong pendaftaran and the postponement impact
    funnel = dom.find("g", cls="funnel", data_program="ISO14001")
    stages = {
        g.attrs["data-stage"]: int(g.attrs["data-value"]) for g in funnel.find_all(cls="stage")
    }
    assert stages == {"requested": 3, "approved": 3, "completed": 0, "rejected": 0, "suspended": 2}
    impact = dom.find(id="postponements").text()
    assert "Jawa Timur, Sulawesi Tengah" in impact and "Rp 100 jt" in impact, impact

    # Link and Match: 2018 attainment in its counting units
    agreements = dom.find("g", cls="attainment", data_year=2018, data_unit="agreements")
    assert (agreements.attrs["data-achieved"], agreements.attrs["data-target"]) == ("3", "3")
    assert "3 / 3 perjanjian" in agreements.text() and "satuan: agreements" in agreements.text()
    ikm = dom.find("g", cls="attainment", data_year=2018, data_unit="ikm")
    assert "3 / 10 IKM" in ikm.text()
    firms = dom.find("g", cls="attainment", data_year=2018, data_unit="partner_firms")
    assert firms.attrs["data-target"] == "none" and "target belum ditetapkan" in firms.text()
    assert dom.find("g", cls="stage-col", data_stage="mou_signed").attrs["data-value"] == "3"

    # Sertifikat and sentra
    iso9001 = dom.find("g", cls="scheme", data_scheme="ISO_9001")
    counts = {g.attrs["data-status"]: g.attrs["data-value"] for g in iso9001.find_all(cls="cert")}
    assert counts == {"active": "1", "expired": "1"}
    sentra = dom.find("g", cls="sentra", data_sentra="S1")
    assert sentra.attrs["data-members"] == "25"
    assert sentra.find("text", cls="sentra-members").text() == "25"
    before = sentra.find("g", cls="range-row", data_period="before")
    assert (before.attrs["data-min"], before.attrs["data-max"]) == ("200000000", "300000000")
    assert "Rp 200 jt – Rp 300 jt" in sentra.text() and "belum dilaporkan" in sentra.text()

    # Every chart is an accessible image, with a data table as its fallback
    charts = [svg for svg in dom.find_all("svg") if svg.attrs.get("role") == "img"]
    assert len(charts) >= 8 and all(
        svg.find_all("title") and svg.find_all("desc") for svg in charts
    )
    assert len(dom.find_all("table")) >= 7

    # The screenshot: a real PNG of the window, with the charts painted in their colours
    data = screenshot.read_bytes()
    assert len(data) > 50_000, f"{len(data)} bytes: suspiciously small"
    width, height, bpp, rows = await asyncio.to_thread(png_rows, data)
    assert (width, height) == (WIDTH, HEIGHT)
    colours = palette()
    painted = {
        name: sum(row.count(colours[name]) for row in rows)
        for name in ("blue", "blue-2", "green", "amber", "red", "teal")
    }
    assert all(count > 300 for count in painted.values()), painted
    sample = Counter(row[x : x + 3] for row in rows[::8] for x in range(0, len(row), bpp * 2))
    assert len(sample) > 200, f"only {len(sample)} distinct colours: blank page?"
    assert sample.most_common(1)[0][1] < 0.75 * sum(sample.values()), "one colour fills the page"
