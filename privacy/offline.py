"""No surprise outbound calls: tldextract (used by Presidio's stock email recognizer) would
fetch the public-suffix list on first use. Point it at its bundled snapshot instead."""
from __future__ import annotations

import tldextract
import tldextract.tldextract as _tld

OFFLINE_EXTRACTOR = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def make_tldextract_offline() -> None:
    # tldextract.extract() reads this module global at call time
    _tld.TLD_EXTRACTOR = OFFLINE_EXTRACTOR
    tldextract.extract = OFFLINE_EXTRACTOR
