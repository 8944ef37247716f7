"""The decision reads a mail's header block once: ``parse_headers`` (the cheap first read) gives
exactly the headers the whole parse would, so ``decide`` hands them to ``mime.parse`` instead of
reading them again. Compared on every corpus mail, the hostile mails and generated and mutated
mails, with the fast path on and off."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_mime_fast import HOSTILE, corpus_files, fast_path
from test_properties import (
    PROPERTY,
    Mutation,
    Recipe,
    builder_mails,
    corpus_mail,
    dictionary_mutations,
    mutate,
    mutations,
)

from corpus import CORPUS
from invoice_inbox.pipeline import mime


def assert_same_headers(raw: bytes) -> None:
    for on in (True, False):
        with fast_path(on):
            try:
                whole = mime.parse(raw).headers
            except mime.MessageTooComplex:
                continue
            try:
                first = mime.parse_headers(raw)
            except Exception as exc:  # decide quarantines such a mail before parsing it
                pytest.fail(f"the header block is unreadable but the whole mail is not: {exc!r}")
            assert first == whole


@pytest.mark.parametrize("path", corpus_files(CORPUS), ids=lambda p: p.name)
def test_corpus_mails_have_the_same_headers_both_ways(path: Path) -> None:
    assert_same_headers(path.read_bytes())


@pytest.mark.parametrize("raw", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_mails_have_the_same_headers_both_ways(raw: bytes) -> None:
    assert_same_headers(raw)


@settings(PROPERTY, max_examples=150)
@given(
    recipe=st.one_of(builder_mails(), corpus_mail()),
    steps=st.lists(st.one_of(mutations, dictionary_mutations), max_size=8),
)
def test_generated_mails_have_the_same_headers_both_ways(
    recipe: Recipe | bytes, steps: list[Mutation]
) -> None:
    raw = recipe.build() if isinstance(recipe, Recipe) else recipe
    assert_same_headers(mutate(raw, steps))


@settings(PROPERTY, max_examples=150)
@given(raw=st.binary(max_size=2048))
def test_random_bytes_have_the_same_headers_both_ways(raw: bytes) -> None:
    assert_same_headers(raw)
