"""Synthetic feed documents shaped like the real ones in ../shared/feeds-real.

Why synthesize: the benchmark needs hundreds of distinct 50-item feeds with unique titles and
links, but the real captures are few and must not be copied into the repository. So the real
documents are read in place once, their item *shapes* are kept (HTML descriptions, full-text
``content:encoded``, ``dc:creator``, ``media:content``, categories, Google News ``<source>`` and
cluster lists, Atom ``content type="html"``) and the text is recombined per feed:

- titles: two real headlines spliced at a word boundary (so vocabulary and length are real but
  every headline is new); about 12 % are built from the relevant headlines of
  tests/data/relevance (ICE, troops, sanctuary policy; reworded or spliced), so the classifier finds topics and
  cities; about 10 % come from a shared "wire" pool that several feeds carry at once, so the
  clustering joins stories across outlets;
- bodies: real descriptions and real article paragraphs, padded until the document is
  100–150 KB (the size range of the larger real news feeds);
- 60 % RSS 2.0 news-site feeds, 25 % Google News search feeds, 15 % Atom.

Every document is a pure function of (seed, feed index, base time), so the feed host process and
the benchmark agree on the bytes without shipping them around, and ETags are stable.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
import json
import os
import pickle
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "bench" / "out"
SHARED_DIR = Path(os.environ.get("CIVIC_ALERTS_SHARED_DIR", ROOT.parent / "shared"))
REAL_DIR = SHARED_DIR / "feeds-real"
HELDOUT = ROOT / "tests" / "data" / "relevance" / "heldout.jsonl"
CORPUS_VERSION = 1

ITEMS_PER_FEED = 50
MIN_BYTES, MAX_BYTES = 100_000, 150_000

_TAG = re.compile(r"<[^>]+>")
_WS = re.compile(r"\s+")
REWORDINGS = ("", "", ": what we know", ", officials say", " as protests grow", " — live updates",
              ", report says", " amid outcry", ": latest")


@dataclass(frozen=True, slots=True)
class RealItem:
    title: str
    summary_html: str
    content_html: str
    author: str
    image: str
    categories: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Corpus:
    items: tuple[RealItem, ...]
    titles: tuple[str, ...]  # plain-text real headlines, de-duplicated
    paragraphs: tuple[str, ...]  # real article paragraphs (HTML)
    relevant: tuple[tuple[str, str], ...]  # (title, summary) with topics, from the held-out set
    irrelevant: tuple[tuple[str, str], ...]
    sources: tuple[str, ...]  # outlet names (Google News <source>)


def _text(value: str) -> str:
    return _WS.sub(" ", html.unescape(_TAG.sub(" ", value or ""))).strip()


def _build_corpus() -> Corpus:
    import feedparser

    items: list[RealItem] = []
    titles: dict[str, None] = {}
    paragraphs: list[str] = []
    sources: dict[str, None] = {}
    files = sorted(REAL_DIR.glob("*.xml")) if REAL_DIR.is_dir() else []
    if not files:  # a fresh clone without ../shared: fall back to the project's own fixtures
        files = sorted((ROOT / "tests" / "data" / "feeds").glob("*.xml"))
    for path in files:
        doc = feedparser.parse(path.read_bytes())
        for e in doc.entries:
            title = _text(e.get("title", ""))
            if not (20 <= len(title) <= 160) or "&#" in title:
                continue
            titles[title] = None
            content = ""
            if e.get("content"):
                content = e["content"][0].get("value", "")
                paragraphs.extend(p.strip() + "</p>" for p in content.split("</p>") if len(_text(p)) > 80)
            image = ""
            for m in e.get("media_content", []) or e.get("media_thumbnail", []) or []:
                if m.get("url"):
                    image = m["url"]
                    break
            src = e.get("source", {}).get("title") if isinstance(e.get("source"), dict) else None
            if src:
                sources[_text(src)] = None
            items.append(RealItem(
                title=title,
                summary_html=e.get("summary", "")[:6000],
                content_html=content[:20000],
                author=_text(e.get("author", ""))[:80],
                image=image,
                categories=tuple(_text(t.get("term", ""))[:40] for t in e.get("tags", [])[:4] if t.get("term")),
            ))
    relevant, irrelevant = [], []
    if HELDOUT.is_file():
        for line in HELDOUT.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            (relevant if row.get("topics") else irrelevant).append((row["title"], row["summary"]))
    if not relevant:
        relevant = [("ICE agents detain workers in Chicago raid", "Federal immigration agents detained "
                     "several workers in Chicago on Tuesday, witnesses said.")]
    for name in ("Chicago Tribune", "Reuters", "AP News", "NBC News", "Block Club Chicago", "WBEZ",
                 "Los Angeles Times", "The Guardian", "ABC7 Chicago", "CBS News"):
        sources[name] = None
    return Corpus(tuple(items), tuple(titles), tuple(paragraphs), tuple(relevant), tuple(irrelevant),
                  tuple(sources))


@functools.cache
def corpus() -> Corpus:
    """The recombination material, cached in bench/out/ (rebuilt when the inputs change)."""
    stamp = hashlib.sha1(f"{CORPUS_VERSION}:{REAL_DIR}:{HELDOUT.stat().st_mtime if HELDOUT.exists() else 0}"
                         .encode()).hexdigest()[:12]
    cache = OUT_DIR / f"corpus-{stamp}.pickle"
    if cache.is_file():
        try:
            return pickle.loads(cache.read_bytes())
        except Exception:
            pass
    built = _build_corpus()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(pickle.dumps(built))
    tmp.replace(cache)
    return built


def splice(rng: random.Random, a: str, b: str) -> str:
    wa, wb = a.split(), b.split()
    ka = rng.randint(max(2, len(wa) // 3), max(2, len(wa) - 1))
    kb = rng.randint(1, max(1, len(wb) // 2))
    return " ".join(wa[:ka] + wb[kb:])[:200]


def wire_title(seed: int, k: int) -> tuple[str, str]:
    """A story several feeds carry (same headline, maybe with an outlet suffix)."""
    c = corpus()
    rng = random.Random(f"wire:{seed}:{k}")
    if rng.random() < 0.3:
        title, summary = rng.choice(c.relevant)
    else:
        title = splice(rng, rng.choice(c.titles), rng.choice(c.titles))
        summary = _text(rng.choice(c.items).summary_html)[:600]
    return title, summary


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:60] or "story"


def _http_date(when: datetime) -> str:
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)


def feed_kind(index: int) -> str:
    r = index % 20
    return "gnews" if r < 5 else "atom" if r < 8 else "news"


@dataclass(frozen=True, slots=True)
class GenItem:
    title: str
    summary_html: str
    link: str
    guid: str
    published: datetime
    real: RealItem
    source: str


STYLES = ("mixed", "plain", "cluster")
CLUSTER_BASES = 150


@functools.cache
def cluster_bases(seed: int) -> tuple[tuple[str, str], ...]:
    """The story pool of the cluster-heavy workload: 150 (title, summary) pairs, a third of
    them relevant (ICE, troops, sanctuary) and the rest real headlines of ../shared/feeds-real."""
    c = corpus()
    rng = random.Random(f"cluster:{seed}")
    n_rel = min(len(c.relevant), CLUSTER_BASES // 3)
    picked = rng.sample(c.relevant, n_rel)
    titles = [t for t in c.titles if len(t.split()) >= 6] or list(c.titles)
    for t in rng.sample(titles, min(len(titles), CLUSTER_BASES - n_rel)):
        picked.append((t, _text(rng.choice(c.items).summary_html)[:600]))
    return tuple(picked)


def cluster_title(rng: random.Random, c: Corpus, title: str) -> str:
    """A variant of `title` that keeps most of its words: 1–3 words swapped for words of other
    real headlines, maybe one dropped, maybe an outlet's rewording. So 10,000 headlines spread
    over 150 stories: each shares most words with ≈ 65 others, near-duplicates and near-misses
    alike, which is what makes clustering work hard (many candidates per headline)."""
    words = title.split()
    for _ in range(rng.randint(1, 3)):
        donor = rng.choice(c.titles).split()
        words[rng.randrange(1, len(words)) if len(words) > 1 else 0] = rng.choice(donor)
    if len(words) > 6 and rng.random() < 0.3:
        del words[rng.randrange(1, len(words))]
    return " ".join(words)[:200] + rng.choice(REWORDINGS)


def feed_items(seed: int, index: int, base: datetime, n: int = ITEMS_PER_FEED, *,
               wire_pool: int = 400, plain: bool = False, cluster: bool = False) -> list[GenItem]:
    """Items of feed `index`; `plain` leaves out the relevant and wire headlines; `cluster`
    draws every headline from the small story pool of `cluster_bases` (varied per item)."""
    c = corpus()
    rng = random.Random(f"feed:{seed}:{index}")
    kind = feed_kind(index)
    host = f"www.outlet{index}.example"
    out: list[GenItem] = []
    seen: set[str] = set()
    j = 0
    while len(out) < n:
        j += 1
        real = rng.choice(c.items)
        r = 1.0 if plain else rng.random()
        if cluster:
            t, summary = rng.choice(cluster_bases(seed))
            title = cluster_title(rng, c, t)
            summary_html = f"<p>{escape(summary)}</p>" if r < 0.5 else real.summary_html
        elif r < 0.10:
            title, summary = wire_title(seed, rng.randrange(wire_pool))
            summary_html = f"<p>{escape(summary)}</p>"
        elif r < 0.15:
            t, summary = rng.choice(c.relevant)
            title = t + rng.choice(REWORDINGS)
            summary_html = f"<p>{escape(summary)}</p>"
        elif r < 0.22:
            t, summary = rng.choice(c.relevant)
            title = splice(rng, t, rng.choice(c.relevant)[0])
            summary_html = f"<p>{escape(summary)}</p>"
        else:
            title = splice(rng, real.title, rng.choice(c.titles))
            summary_html = real.summary_html
        source = rng.choice(c.sources)
        if kind == "gnews":
            title = f"{title} - {source}"
        if title in seen:
            continue
        seen.add(title)
        if kind == "gnews":
            token = base64.urlsafe_b64encode(hashlib.sha256(f"{seed}:{index}:{j}".encode()).digest() * 2).decode()
            link = f"https://news.google.com/rss/articles/CBMi{token.rstrip('=')}?oc=5"
        else:
            link = f"https://{host}/{base:%Y/%m/%d}/{_slug(title)}-{index}-{j}.html"
        published = base - timedelta(seconds=rng.uniform(60, 20 * 3600))
        out.append(GenItem(title, summary_html, link, link if kind != "gnews" else f"gn-{index}-{j}",
                           published, real, source))
    out.sort(key=lambda it: it.published, reverse=True)
    return out


def _gnews_cluster(rng: random.Random, first: GenItem, c: Corpus, budget: int) -> str:
    """Google News description: an <ol> of related coverage, like the real search feeds."""
    parts = [f'<ol><li><a href="{first.link}" target="_blank">{escape(first.title)}</a>'
             f'&nbsp;&nbsp;<font color="#6f6f6f">{escape(first.source)}</font></li>']
    size = len(parts[0])
    while size < budget:
        t = rng.choice(c.titles)
        src = rng.choice(c.sources)
        tok = hashlib.sha1(f"{t}{size}".encode()).hexdigest()
        li = (f'<li><a href="https://news.google.com/rss/articles/CBMi{tok}{tok}?oc=5" target="_blank">'
              f'{escape(t)}</a>&nbsp;&nbsp;<font color="#6f6f6f">{escape(src)}</font></li>')
        parts.append(li)
        size += len(li)
    parts.append("</ol>")
    return "".join(parts)


def _body(rng: random.Random, c: Corpus, budget: int) -> str:
    parts: list[str] = []
    size = 0
    while size < budget and c.paragraphs:
        p = rng.choice(c.paragraphs)
        parts.append(p)
        size += len(p)
    return "".join(parts)


def feed_document(seed: int, index: int, base: datetime, n: int = ITEMS_PER_FEED,
                  extra: list[GenItem] | None = None, *, style: str = "mixed") -> bytes:
    """The bytes of feed `index` (`style`: one of STYLES). `extra` items (published at
    runtime) go first."""
    c = corpus()
    rng = random.Random(f"doc:{seed}:{index}")
    kind = feed_kind(index)
    items = list(extra or []) + feed_items(seed, index, base, n, plain=style == "plain",
                                           cluster=style == "cluster")
    target = rng.randint(MIN_BYTES, MAX_BYTES) * n // ITEMS_PER_FEED
    head, tail, rendered = _frame(kind, index, base), _TAILS[kind], []
    bare = [_item(kind, it, "", rng, c) for it in items]
    base_size = len(head) + len(tail) + sum(map(len, bare))
    per_item = max(0, (target - base_size) // max(1, len(items)) - 700)
    for it in items:
        pad = ""
        if per_item > 200:
            pad = _gnews_cluster(rng, it, c, per_item) if kind == "gnews" else _body(rng, c, per_item)
        rendered.append(_item(kind, it, pad, rng, c))
    return (head + "".join(rendered) + tail).encode("utf-8")


_TAILS = {"news": "</channel></rss>\n", "gnews": "</channel></rss>\n", "atom": "</feed>\n"}


def _frame(kind: str, index: int, base: datetime) -> str:
    if kind == "atom":
        return ('<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" '
                'xml:lang="en-US">'
                f"<title>Outlet {index} – All News</title>"
                f'<link rel="alternate" type="text/html" href="https://www.outlet{index}.example/"/>'
                f'<link rel="self" type="application/atom+xml" href="https://www.outlet{index}.example/feed.atom"/>'
                f"<id>tag:outlet{index}.example,2026:feed</id><updated>{base.isoformat()}</updated>")
    if kind == "gnews":
        return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><rss version="2.0" '
                'xmlns:media="http://search.yahoo.com/mrss/"><channel><generator>NFE/5.0</generator>'
                f'<title>"civic topic {index}" - Google News</title>'
                '<link>https://news.google.com/search?q=civic&amp;hl=en-US&amp;gl=US&amp;ceid=US:en</link>'
                '<language>en-US</language><webMaster>news-webmaster@google.com</webMaster>'
                f"<copyright>2026 Google Inc.</copyright><lastBuildDate>{_http_date(base)}</lastBuildDate>"
                "<description>Google News</description>")
    return ('<?xml version="1.0" encoding="UTF-8"?><?xml-stylesheet type="text/xsl" href="/rss.xsl"?>\n'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:atom="http://www.w3.org/2005/Atom" '
            'xmlns:media="http://search.yahoo.com/mrss/"><channel>'
            f"<title>Outlet {index} News</title><link>https://www.outlet{index}.example/</link>"
            f'<atom:link href="https://www.outlet{index}.example/rss" rel="self" type="application/rss+xml"/>'
            f"<description>Latest news from outlet {index}</description><language>en-us</language>"
            f"<lastBuildDate>{_http_date(base)}</lastBuildDate>")


def _item(kind: str, it: GenItem, pad: str, rng: random.Random, c: Corpus) -> str:
    real = it.real
    if kind == "atom":
        content = it.summary_html + pad
        return (f'<entry><title type="html">{escape(it.title)}</title>'
                f'<link rel="alternate" type="text/html" href={quoteattr(it.link)}/>'
                f"<id>{escape(it.guid)}</id><published>{it.published.isoformat()}</published>"
                f"<updated>{it.published.isoformat()}</updated>"
                f"<author><name>{escape(real.author or 'Staff')}</name></author>"
                f'<summary type="html">{escape(_text(it.summary_html)[:400])}</summary>'
                f'<content type="html">{escape(content)}</content></entry>')
    if kind == "gnews":
        return (f"<item><title>{escape(it.title)}</title><link>{escape(it.link)}</link>"
                f'<guid isPermaLink="false">{escape(it.guid)}</guid>'
                f"<pubDate>{_http_date(it.published)}</pubDate>"
                f"<description>{escape(pad or it.summary_html)}</description>"
                f'<source url="https://www.{_slug(it.source)}.example">{escape(it.source)}</source></item>')
    parts = [f"<item><title><![CDATA[{it.title}]]></title><link>{escape(it.link)}</link>",
             f'<guid isPermaLink="true">{escape(it.guid)}</guid>',
             f"<pubDate>{_http_date(it.published)}</pubDate>",
             f"<description><![CDATA[{_cdata(it.summary_html)}]]></description>"]
    if real.author:
        parts.append(f"<dc:creator><![CDATA[{_cdata(real.author)}]]></dc:creator>")
    parts.extend(f"<category><![CDATA[{_cdata(t)}]]></category>" for t in real.categories)
    if real.image:
        parts.append(f'<media:content url={quoteattr(real.image)} medium="image" width="1024" height="576"/>')
    if pad:
        parts.append(f"<content:encoded><![CDATA[{_cdata(pad)}]]></content:encoded>")
    parts.append("</item>")
    return "".join(parts)


def _cdata(text: str) -> str:
    return text.replace("]]>", "]]&gt;")


PLACES = ("a Home Depot", "a car wash", "a bus stop", "an apartment building", "a church", "a school",
          "a courthouse", "a warehouse", "a restaurant", "a food market")
CITIES = ("Chicago", "Los Angeles", "Houston", "Phoenix", "Denver", "Minneapolis", "Portland",
          "Charlotte", "New Orleans", "San Diego")


def relevant_item(seed: int, index: int, k: int, when: datetime) -> GenItem:
    """A new relevant headline for the alert-latency scenario, distinct per (index, k): its
    number tells stories apart (clustering keeps headlines with different numbers apart)."""
    c = corpus()
    rng = random.Random(f"new:{seed}:{index}:{k}")
    n = 1000 + index * 100 + k
    place, city = rng.choice(PLACES), rng.choice(CITIES)
    title = f"Immigration agents detain {n} people outside {place} in {city}, witnesses say"
    summary = (f"Federal immigration agents detained {n} people outside {place} in {city} on "
               "Tuesday morning, according to witnesses and a local rapid-response network.")
    link = f"https://www.outlet{index}.example/{when:%Y/%m/%d}/breaking-{index}-{k}.html"
    return GenItem(title, f"<p>{escape(summary)}</p>", link, link, when, rng.choice(c.items), "Outlet")


def all_texts(seed: int, n_feeds: int, base: datetime) -> list[tuple[str, str]]:
    """(title, summary-text) pairs of the synthetic items, for the classify scenario."""
    out = []
    for i in range(n_feeds):
        for it in feed_items(seed, i, base):
            out.append((it.title, _text(it.summary_html)))
    return out
