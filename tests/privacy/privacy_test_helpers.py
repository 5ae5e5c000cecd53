"""Helpers for the privacy recognizer tests (unique module name: tests/ has no packages)."""


def found(recognizer, text):
    """The substrings a recognizer reports, in order."""
    if hasattr(recognizer, "load") and not getattr(recognizer, "_loaded_for_test", False):
        recognizer.load()
        recognizer._loaded_for_test = True
    results = recognizer.analyze(text, [recognizer.supported_entities[0]], None)
    return sorted((text[r.start : r.end] for r in results), key=text.find)
