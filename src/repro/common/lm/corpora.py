"""Offline English text corpora for training and evaluating small LMs from scratch.

Every corpus here is a file in the project mirror (``shared/papers/README.md``,
"Offline text corpora", "Mirrored" table), named by its canonical GitHub raw URL
pinned to a commit and by its sha256, and fetched with :func:`repro.common.fetch.fetch`
(so ``REPRO_MIRROR`` serves it offline). Each corpus is parsed into
:class:`Document` records with a *domain* label; the labels are used by the
per-domain perplexity analyses (pplcorr) and for domain-balanced mixes.

Domains of the default (cleanly licensed) mix:

======================  ==============  =====================================================
corpus                  domain          document unit
======================  ==============  =====================================================
``tinyshakespeare``     drama           ~16k-character chunks cut at blank lines
``wikitext2``           encyclopedic    one Wikipedia article (valid + test files; already
                                        word-tokenised, rare words are ``<unk>``)
``news_from_nowhere``   fiction         one chapter (Morris 1890, Project Gutenberg #3261)
``jack_sheppard``       fiction         one chapter (Ainsworth 1839, Project Gutenberg #16215)
``state_union``         speeches        one State of the Union address (1945-2006)
``inaugural``           speeches        one inaugural address (1789-2021)
``movie_reviews``       reviews         one review (Pang & Lee polarity corpus)
``shakespeare``         drama           one act of a play (NLTK XML sample, 8 plays)
``switchboard``         dialogue        one telephone call (36 calls, orthographic transcript)
======================  ==============  =====================================================

Opt-in corpora (licences restrict them to research / non-commercial use; they load
only with ``allow_opt_in=True`` and raise :class:`OptInRequiredError` otherwise):
``brown`` (one sample; domain from the Brown genre code, see :data:`BROWN_DOMAINS`),
``nps_chat`` (chat; one session), ``abc`` (news / science; ~16k-char chunks) and
``webtext`` (forum, dialogue, script, ads, reviews; ~16k-char chunks).

Known overlap: ``tinyshakespeare`` and ``shakespeare`` share plays (e.g. parts of
Romeo and Juliet); do not use one as held-out data for a model trained on the other.
"""

from __future__ import annotations

import hashlib
import os
import re
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from repro.common.fetch import DEFAULT_RESOURCES, Resource, fetch_resource, local_path

# ---------------------------------------------------------------------------------------
# Data model


@dataclass(frozen=True)
class Document:
    """One unit of text with its provenance.

    ``doc_id`` is unique across all corpora (``"<corpus>/<name>"``) and stable across
    runs; it is what held-out splits and per-document results are keyed by.
    """

    text: str
    corpus: str
    domain: str
    doc_id: str


class OptInRequiredError(PermissionError):
    """An opt-in corpus (restrictive licence) was requested without ``allow_opt_in=True``."""


class UnknownCorpusError(KeyError):
    """A corpus name that is not in :data:`CORPORA`."""

    def __str__(self) -> str:  # KeyError would print the message with quotes
        return str(self.args[0]) if self.args else "unknown corpus"


_Parser = Callable[[list[Path]], list[tuple[str, str, str]]]  # -> [(name, text, domain)]


@dataclass(frozen=True)
class CorpusSpec:
    """A mirrored corpus: pinned files, licence, default/opt-in status and its parser."""

    name: str
    resources: tuple[Resource, ...]
    domain: str  # the main domain (a parser may assign finer ones per document)
    licence: str
    opt_in: bool
    parser: _Parser = field(repr=False)
    description: str = ""


# ---------------------------------------------------------------------------------------
# Text helpers

#: Default chunk size (characters) for corpora without natural document boundaries.
CHUNK_CHARS = 16_000


def _normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# Some NLTK files (Nixon's addresses, Bush 2005) carry Big5-style punctuation bytes
# pasted into otherwise Latin-1 text; map them to the punctuation they stand for so
# that the model does not learn mojibake. Applied only when UTF-8 decoding fails.
_NLTK_MOJIBAKE = {
    b"\xa1\xa6": "\u2019".encode(),
    b"\xa1\xa7": "\u201c".encode(),
    b"\xa1\xa8": "\u201d".encode(),
    b"\xa1X": "\u2014".encode(),
    b"\xa1K": "\u2026".encode(),
    b"\xa1@": b" ",
}


def decode_text(data: bytes) -> str:
    """Decode corpus bytes: UTF-8 if valid, else the known mojibake fixed and cp1252.

    Newlines are normalised to ``\\n``. Undefined cp1252 bytes become U+FFFD rather
    than failing, since a handful of stray bytes must not stop a corpus from loading.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        for bad, good in _NLTK_MOJIBAKE.items():
            data = data.replace(bad, good)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
    return _normalise_newlines(text)


def chunk_text(text: str, max_chars: int = CHUNK_CHARS) -> list[str]:
    """Cut ``text`` into chunks of at most ~``max_chars`` at blank-line boundaries.

    Paragraphs are never split unless a single paragraph is longer than
    ``max_chars`` (then it is cut at line boundaries, and a single overlong line at
    ``max_chars``). Empty chunks are dropped.
    """
    if max_chars <= 0:
        raise ValueError("max_chars must be positive")
    pieces: list[str] = []
    for para in re.split(r"\n\s*\n", text.strip()):
        para = para.strip("\n")
        if not para.strip():
            continue
        if len(para) <= max_chars:
            pieces.append(para)
            continue
        for line in para.split("\n"):
            pieces.extend(line[i : i + max_chars] for i in range(0, max(len(line), 1), max_chars))
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for piece in pieces:
        if current and size + len(piece) + 2 > max_chars:
            chunks.append("\n\n".join(current))
            current, size = [], 0
        current.append(piece)
        size += len(piece) + 2
    if current:
        chunks.append("\n\n".join(current))
    return [c for c in chunks if c.strip()]


_PG_START = re.compile(r"^\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG.*$", re.M | re.I)
_PG_END = re.compile(r"^\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG.*$", re.M | re.I)
_PG_END_LINE = re.compile(r"^End of (?:the )?Project Gutenberg.*$", re.M | re.I)


def strip_gutenberg(text: str) -> str:
    """Remove the Project Gutenberg header, licence and footer from an e-text.

    Keeps only what lies between the ``*** START OF ... ***`` and ``*** END OF ...
    ***`` markers, and drops the ``End of Project Gutenberg's ...`` line that precedes
    the end marker. Raises ``ValueError`` when the markers are missing, since silently
    training on the licence text would contaminate every domain statistic.
    """
    text = _normalise_newlines(text)
    start = _PG_START.search(text)
    end = _PG_END.search(text)
    if start is None or end is None or end.start() < start.end():
        raise ValueError("Project Gutenberg START/END markers not found")
    body = text[start.end() : end.start()]
    body = _PG_END_LINE.sub("", body)
    return body.strip() + "\n"


# A chapter heading in the body text. Lines that end in a page number are table of
# contents entries ("CHAPTER I. The Widow and her Child      1") and are not headings.
_CHAPTER = re.compile(r"^CHAPTER [IVXLC]+\b(?!.*\s\d+\s*$).*$", re.M)


def split_chapters(body: str) -> list[str]:
    """Split a novel's body into chapters at ``CHAPTER <roman>`` heading lines.

    The text before the first heading (title page, contents, preface credits) is
    front matter and is dropped. Each chapter keeps its heading line.
    """
    starts = [m.start() for m in _CHAPTER.finditer(body)]
    if not starts:
        raise ValueError("no CHAPTER headings found")
    bounds = [*starts, len(body)]
    return [body[a:b].strip() + "\n" for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


# ---------------------------------------------------------------------------------------
# Parsers: list of local files (in the order of CorpusSpec.resources) -> (name, text, domain)


def _read(path: Path) -> str:
    return decode_text(path.read_bytes())


def _zip_members(path: Path, prefix: str) -> Iterable[tuple[str, bytes]]:
    """Regular files of a zip under ``prefix``, sorted by name (zip order is not a contract)."""
    with zipfile.ZipFile(path) as zf:
        names = sorted(i.filename for i in zf.infolist() if not i.is_dir() and i.filename.startswith(prefix))
        for name in names:
            yield name, zf.read(name)


def _parse_tinyshakespeare(paths: list[Path]) -> list[tuple[str, str, str]]:
    chunks = chunk_text(_read(paths[0]))
    return [(f"chunk{i:03d}", c + "\n", "drama") for i, c in enumerate(chunks)]


# An article title line " = Title = " between two blank lines. The blank-line context
# matters: a few articles contain display equations such as " = 1 <unk> / s ... k = "
# directly followed by text, which are not titles.
_WIKI_TITLE = re.compile(r"^ = [^=].* = $")


def _parse_wikitext(paths: list[Path]) -> list[tuple[str, str, str]]:
    out = []
    for path in paths:
        split = path.stem  # valid / test
        lines = _read(path).split("\n")
        starts = [
            i
            for i, line in enumerate(lines)
            if _WIKI_TITLE.match(line)
            and (i == 0 or not lines[i - 1].strip())
            and (i + 1 < len(lines) and not lines[i + 1].strip())
        ]
        bounds = [*starts, len(lines)]
        for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            article = "\n".join(lines[a:b]).strip()
            if article:
                out.append((f"{split}/{i:03d}", article + "\n", "encyclopedic"))
    return out


def _parse_gutenberg_novel(paths: list[Path]) -> list[tuple[str, str, str]]:
    chapters = split_chapters(strip_gutenberg(_read(paths[0])))
    return [(f"ch{i:03d}", c, "fiction") for i, c in enumerate(chapters, start=1)]


def _zip_files_parser(prefix: str, domain: str, *, skip: Sequence[str] = ("README",)) -> _Parser:
    """One document per text file of an NLTK zip."""

    def parse(paths: list[Path]) -> list[tuple[str, str, str]]:
        out = []
        for name, data in _zip_members(paths[0], prefix):
            base = name.rsplit("/", 1)[-1]
            if base in skip:
                continue
            text = decode_text(data).strip()
            if text:
                stem = name[len(prefix) :].removesuffix(".txt")
                out.append((stem, text + "\n", domain))
        return out

    return parse


def _play_text(root: ET.Element) -> Iterable[tuple[str, str]]:
    """(act title, act text) for each ACT of a Bosak play: scene titles, stage
    directions and speeches rendered as ``SPEAKER\\nline\\nline`` blocks."""
    for act in root.iter("ACT"):
        title = (act.findtext("TITLE") or "").strip()
        blocks: list[str] = [title]
        for el in act.iter():
            if el.tag == "SCENE":
                blocks.append((el.findtext("TITLE") or "").strip())
            elif el.tag == "STAGEDIR" and el.text:
                blocks.append(" ".join(el.text.split()))
            elif el.tag == "SPEECH":
                speakers = [s.text.strip() for s in el.findall("SPEAKER") if s.text]
                lines = ["".join(line.itertext()).strip() for line in el.findall("LINE")]
                blocks.append("\n".join([" and ".join(speakers).upper(), *lines]))
        yield title, "\n\n".join(b for b in blocks if b)


def _parse_shakespeare_xml(paths: list[Path]) -> list[tuple[str, str, str]]:
    out = []
    for name, data in _zip_members(paths[0], "shakespeare/"):
        if not name.endswith(".xml"):
            continue
        play = name.rsplit("/", 1)[-1].removesuffix(".xml")
        root = ET.fromstring(data)
        for i, (_title, text) in enumerate(_play_text(root), start=1):
            out.append((f"{play}/act{i}", text + "\n", "drama"))
    return out


def _parse_switchboard(paths: list[Path]) -> list[tuple[str, str, str]]:
    # The orthographic transcript holds the 36 calls one after another, separated by
    # blank lines; each turn reads "A.1: Uh, do you have a pet Randy?".
    ((_, data),) = _zip_members(paths[0], "switchboard/transcript")
    calls = [c.strip() for c in re.split(r"\n\s*\n", decode_text(data)) if c.strip()]
    return [
        (f"call{i:02d}", "\n".join(line.rstrip() for line in c.split("\n")) + "\n", "dialogue")
        for i, c in enumerate(calls)
    ]


#: Brown corpus genre code (first letter of the file's category) -> coarse domain.
BROWN_DOMAINS: dict[str, str] = {
    "a": "news",  # press: reportage
    "b": "news",  # press: editorial
    "c": "reviews",  # press: reviews
    "d": "religion",
    "e": "hobbies",  # skill and hobbies
    "f": "lore",  # popular lore
    "g": "essays",  # belles lettres, biography, memoirs
    "h": "government",  # government documents
    "j": "academic",  # learned
    "k": "fiction",  # general fiction
    "l": "fiction",  # mystery and detective
    "m": "fiction",  # science fiction
    "n": "fiction",  # adventure and western
    "p": "fiction",  # romance
    "r": "humor",
}


def _untag_brown(text: str) -> str:
    """Drop Brown POS tags (``word/tag``) and re-flow one sentence per line."""
    lines = []
    for line in text.split("\n"):
        tokens = [t.rsplit("/", 1)[0] for t in line.split()]
        if tokens:
            lines.append(" ".join(tokens))
    return "\n".join(lines)


def _parse_brown(paths: list[Path]) -> list[tuple[str, str, str]]:
    out = []
    for name, data in _zip_members(paths[0], "brown/"):
        base = name.rsplit("/", 1)[-1]
        if not re.fullmatch(r"c[a-r]\d\d", base):
            continue  # README, cats.txt, CONTENTS
        text = _untag_brown(decode_text(data))
        out.append((base, text + "\n", BROWN_DOMAINS[base[1]]))
    return out


def _parse_nps_chat(paths: list[Path]) -> list[tuple[str, str, str]]:
    out = []
    for name, data in _zip_members(paths[0], "nps_chat/"):
        if not name.endswith(".xml"):
            continue
        root = ET.fromstring(data)
        # "System" posts are JOIN/PART/NICK events, not text anyone wrote.
        posts = [(p.text or "").strip() for p in root.iter("Post") if p.get("class") != "System"]
        text = "\n".join(p for p in posts if p)
        out.append((name.rsplit("/", 1)[-1].removesuffix(".xml"), text + "\n", "chat"))
    return out


def _chunked_zip_parser(prefix: str, domains: dict[str, str]) -> _Parser:
    """Each listed file of a zip cut into ~CHUNK_CHARS chunks, with a per-file domain."""

    def parse(paths: list[Path]) -> list[tuple[str, str, str]]:
        out = []
        for name, data in _zip_members(paths[0], prefix):
            stem = name.rsplit("/", 1)[-1].removesuffix(".txt")
            if stem not in domains:
                continue
            for i, chunk in enumerate(chunk_text(decode_text(data))):
                out.append((f"{stem}/{i:03d}", chunk + "\n", domains[stem]))
        return out

    return parse


# ---------------------------------------------------------------------------------------
# The registry of mirrored corpora (sha256 computed from the mirror copies)

_NLTK = "https://raw.githubusercontent.com/nltk/nltk_data/5db857e6f7df11eabb5e5665836db9ec8df07e28/packages/corpora"
_PYEX = (
    "https://raw.githubusercontent.com/pytorch/examples/77f55b912142e11fcfdf5b530231fb9c52f181e8"
    "/word_language_model/data/wikitext-2"
)


def _nltk(name: str, sha256: str) -> tuple[Resource, ...]:
    return (Resource(f"{_NLTK}/{name}.zip", sha256),)


CORPORA: dict[str, CorpusSpec] = {
    spec.name: spec
    for spec in [
        CorpusSpec(
            "tinyshakespeare",
            (
                Resource(
                    "https://raw.githubusercontent.com/karpathy/char-rnn/6f9487a6fe5b420b7ca9afb0d7c078e37c1d1b4e"
                    "/data/tinyshakespeare/input.txt",
                    "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
                ),
            ),
            "drama",
            "text public domain (repository MIT)",
            False,
            _parse_tinyshakespeare,
            "Karpathy's tiny Shakespeare (40k lines of plays)",
        ),
        CorpusSpec(
            "wikitext2",
            (
                Resource(f"{_PYEX}/valid.txt", "f0737ed31fc1329026e95cb8b98e19c2a182c39c240ab909dc31abf2f8af58e8"),
                Resource(f"{_PYEX}/test.txt", "d790b833ef8cf03a90db7bf1271b7520b83c45ce07ba3c1a9699df81e239eca0"),
            ),
            "encyclopedic",
            "CC BY-SA 3.0",
            False,
            _parse_wikitext,
            "WikiText-2 valid+test (train is not mirrored); word-tokenised with <unk>",
        ),
        CorpusSpec(
            "news_from_nowhere",
            (
                Resource(
                    "https://raw.githubusercontent.com/GITenberg/"
                    "News-from-Nowhere--Or-An-Epoch-of-Rest--13-Being-Some-Chapters-from-a-Utopian-Romance_3261"
                    "/79bd67b0ae225cd64f7bbc25c0449850b3131069/3261.txt",
                    "e5182ca7efdcfdb806cc6c981df49e0d40a1b578ad1c22beb9db1e69872da914",
                ),
            ),
            "fiction",
            "public domain (US); Project Gutenberg licence text stripped",
            False,
            _parse_gutenberg_novel,
            "William Morris, News from Nowhere (PG #3261)",
        ),
        CorpusSpec(
            "jack_sheppard",
            (
                Resource(
                    "https://raw.githubusercontent.com/GITenberg/Jack-Sheppard--A-Romance_16215"
                    "/53c2275d68a942a3c29d037179f8b89c9b094c3f/16215.txt",
                    "c1b00a72015340f131da3b139b4f28dc686d0c944536175c6442159bb2be6869",
                ),
            ),
            "fiction",
            "public domain (US); Project Gutenberg licence text stripped",
            False,
            _parse_gutenberg_novel,
            "W. H. Ainsworth, Jack Sheppard (PG #16215)",
        ),
        CorpusSpec(
            "state_union",
            _nltk("state_union", "366c1dc82b2abf896f42b2ec50ba802a0141a29f75d29ca48a7a243ce5bfbe8d"),
            "speeches",
            "public domain",
            False,
            _zip_files_parser("state_union/", "speeches"),
            "US State of the Union addresses 1945-2006",
        ),
        CorpusSpec(
            "inaugural",
            _nltk("inaugural", "7c5fb5793e31fbeae12bf1aa0ffda5336468f07cedb50654c6d31ca384e2046b"),
            "speeches",
            "public domain",
            False,
            _zip_files_parser("inaugural/", "speeches"),
            "US presidential inaugural addresses 1789-2021",
        ),
        CorpusSpec(
            "movie_reviews",
            _nltk("movie_reviews", "a41211ae685019137410268134db6a1a14428c89b671eb83056151a878539008"),
            "reviews",
            "CC BY 4.0",
            False,
            _zip_files_parser("movie_reviews/", "reviews"),
            "Pang & Lee movie review polarity corpus (2000 reviews, lower-cased, tokenised)",
        ),
        CorpusSpec(
            "shakespeare",
            _nltk("shakespeare", "f1251d8c254710363254ba29c9dc0888d5cb13d5ac736ebc6fb14380f447cfc3"),
            "drama",
            "public domain (Moby; XML by J. Bosak)",
            False,
            _parse_shakespeare_xml,
            "8 plays in Bosak's XML, one document per act",
        ),
        CorpusSpec(
            "switchboard",
            _nltk("switchboard", "6a1a22b659e2fe616129addab0e7967335e67c7dae6a6e63be10778dd0455d06"),
            "dialogue",
            "Open Content License",
            False,
            _parse_switchboard,
            "36 Switchboard telephone calls (orthographic transcript)",
        ),
        CorpusSpec(
            "brown",
            _nltk("brown", "9b275f9b3b95d7bd66ccfb7cd259f445a13bbe5d1f4107aba09fd3e8364bafa6"),
            "mixed",
            "non-commercial use only",
            True,
            _parse_brown,
            "Brown corpus, 500 samples in 15 genres (POS tags stripped)",
        ),
        CorpusSpec(
            "nps_chat",
            _nltk("nps_chat", "a4433d5da5e62fdbede49efa572a53a0139fff1014ffbe86cb263e17cbb4a837"),
            "chat",
            "non-commercial research only",
            True,
            _parse_nps_chat,
            "NPS chat sessions (age-specific chat rooms, 2006)",
        ),
        CorpusSpec(
            "abc",
            _nltk("abc", "129bb6001beb828049a90a59b7dd3c2f0594a47012e48fc5177dfae38e658565"),
            "news",
            "no licence stated; research only",
            True,
            _chunked_zip_parser("abc/", {"rural": "news", "science": "science"}),
            "ABC (Australia) rural and science news",
        ),
        CorpusSpec(
            "webtext",
            _nltk("webtext", "9e32dbae4879464b8f420a0dc721855bb26167b720d7695588d2ca2aeadf501a"),
            "web",
            "no licence stated; research only",
            True,
            _chunked_zip_parser(
                "webtext/",
                {
                    "firefox": "forum",
                    "overheard": "dialogue",
                    "pirates": "script",
                    "grail": "script",
                    "singles": "ads",
                    "wine": "reviews",
                },
            ),
            "NLTK web text: Firefox forum, Overheard in NY, two film scripts, ads, wine notes",
        ),
    ]
}

#: The cleanly licensed default mix (every corpus that is not opt-in).
DEFAULT_MIX: tuple[str, ...] = tuple(name for name, spec in CORPORA.items() if not spec.opt_in)
#: Opt-in corpora (restrictive or unstated licences).
OPT_IN: tuple[str, ...] = tuple(name for name, spec in CORPORA.items() if spec.opt_in)


# ---------------------------------------------------------------------------------------
# Loading


def corpus_spec(name: str) -> CorpusSpec:
    """The :class:`CorpusSpec` of ``name``; :class:`UnknownCorpusError` lists the known names."""
    try:
        return CORPORA[name]
    except KeyError:
        raise UnknownCorpusError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}") from None


def fetch_corpus(
    name: str,
    resources: str | os.PathLike[str] = DEFAULT_RESOURCES,
    *,
    allow_opt_in: bool = False,
) -> list[Path]:
    """Fetch (mirror or network, sha256-checked) the files of corpus ``name`` into ``resources``."""
    spec = corpus_spec(name)
    _check_opt_in(spec, allow_opt_in)
    return [fetch_resource(r, local_path(r.url, resources)) for r in spec.resources]


def _check_opt_in(spec: CorpusSpec, allow_opt_in: bool) -> None:
    if spec.opt_in and not allow_opt_in:
        raise OptInRequiredError(
            f"corpus {spec.name!r} is opt-in (licence: {spec.licence}); pass allow_opt_in=True "
            "to use it, and keep results trained on it out of anything redistributed commercially"
        )


def load_corpus(
    name: str,
    resources: str | os.PathLike[str] = DEFAULT_RESOURCES,
    *,
    allow_opt_in: bool = False,
) -> list[Document]:
    """Fetch and parse one corpus into documents (sorted by ``doc_id``, deterministic)."""
    spec = corpus_spec(name)
    paths = fetch_corpus(name, resources, allow_opt_in=allow_opt_in)
    docs = [
        Document(text=text, corpus=name, domain=domain, doc_id=f"{name}/{doc_name}")
        for doc_name, text, domain in spec.parser(paths)
    ]
    ids = [d.doc_id for d in docs]
    if len(set(ids)) != len(ids):  # a parser bug would silently merge documents later
        raise RuntimeError(f"duplicate document ids in corpus {name!r}")
    return sorted(docs, key=lambda d: d.doc_id)


def load_mix(
    names: Sequence[str] | str = DEFAULT_MIX,
    resources: str | os.PathLike[str] = DEFAULT_RESOURCES,
    *,
    allow_opt_in: bool = False,
) -> list[Document]:
    """Documents of several corpora, concatenated in the order of ``names``.

    ``names`` may be a sequence of corpus names or the strings ``"default"`` (the
    cleanly licensed mix :data:`DEFAULT_MIX`) or ``"all"`` (default + opt-in; needs
    ``allow_opt_in=True``). Opt-in names are checked before anything is fetched.
    """
    if isinstance(names, str):
        if names == "default":
            names = DEFAULT_MIX
        elif names == "all":
            names = tuple(CORPORA)
        else:
            names = (names,)
    specs = [corpus_spec(n) for n in names]
    for spec in specs:
        _check_opt_in(spec, allow_opt_in)
    docs: list[Document] = []
    for spec in specs:
        docs.extend(load_corpus(spec.name, resources, allow_opt_in=allow_opt_in))
    return docs


# ---------------------------------------------------------------------------------------
# Held-out split


def _split_key(seed: int, doc_id: str) -> str:
    return hashlib.sha256(f"{seed}:{doc_id}".encode()).hexdigest()


def split_documents(
    docs: Sequence[Document], heldout_frac: float = 0.1, seed: int = 0
) -> tuple[list[Document], list[Document]]:
    """Deterministic document-level train / held-out split, stratified by corpus.

    Within each corpus, documents are ordered by ``sha256(f"{seed}:{doc_id}")`` and
    the first ``round(heldout_frac * n)`` go to held-out (at least one whenever the
    corpus has two or more documents, so every corpus and domain can be evaluated).
    The assignment depends only on the seed and the corpus's doc ids, not on input
    order or on which other corpora are loaded. Both lists keep the input order.
    """
    if not 0.0 <= heldout_frac < 1.0:
        raise ValueError("heldout_frac must be in [0, 1)")
    by_corpus: dict[str, list[Document]] = {}
    for d in docs:
        by_corpus.setdefault(d.corpus, []).append(d)
    heldout_ids: set[str] = set()
    for corpus_docs in by_corpus.values():
        n = len(corpus_docs)
        k = round(heldout_frac * n)
        if heldout_frac > 0 and n >= 2:
            k = min(max(k, 1), n - 1)
        ranked = sorted(corpus_docs, key=lambda d: _split_key(seed, d.doc_id))
        heldout_ids.update(d.doc_id for d in ranked[:k])
    train = [d for d in docs if d.doc_id not in heldout_ids]
    heldout = [d for d in docs if d.doc_id in heldout_ids]
    return train, heldout


def domains(docs: Iterable[Document]) -> dict[str, int]:
    """Characters per domain (a quick summary of a mix)."""
    out: dict[str, int] = {}
    for d in docs:
        out[d.domain] = out.get(d.domain, 0) + len(d.text)
    return dict(sorted(out.items()))


__all__ = [
    "BROWN_DOMAINS",
    "CHUNK_CHARS",
    "CORPORA",
    "DEFAULT_MIX",
    "OPT_IN",
    "CorpusSpec",
    "Document",
    "OptInRequiredError",
    "UnknownCorpusError",
    "chunk_text",
    "corpus_spec",
    "decode_text",
    "domains",
    "fetch_corpus",
    "load_corpus",
    "load_mix",
    "split_chapters",
    "split_documents",
    "strip_gutenberg",
]
