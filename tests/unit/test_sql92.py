"""The SQL92 selector evaluator (pyrmq.filter.sql92): grammar, null semantics, numbers vs
strings, malformed expressions."""

from __future__ import annotations

import pytest

from pyrmq.filter.sql92 import SqlSyntaxError
from pyrmq.filter.sql92 import compile as sql


@pytest.mark.parametrize("text,props,want", [
    ("a = 5", {"a": "5"}, True),
    ("a <> 5", {"a": "6"}, True),
    ("a < 5", {"a": "4"}, True),
    ("a <= 5", {"a": "5.0"}, True),
    ("a > 5", {"a": "10"}, True),  # numeric, not string, order
    ("a >= 5.5", {"a": "5.4"}, False),
    ("a between 1 and 3", {"a": "3"}, True),
    ("a not between 1 and 3", {"a": "2"}, False),
    ("TAGS in ('x', 'y')", {"TAGS": "y"}, True),
    ("TAGS not in ('x', 'y')", {"TAGS": "z"}, True),
    ("s = 'it''s'", {"s": "it's"}, True),
    ("a is null", {}, True),
    ("a is not null", {"a": ""}, True),
    ("a = 1 and (b = 2 or c = 3)", {"a": "1", "c": "3"}, True),
    ("not a = 1", {"a": "2"}, True),
    ("TRUE", {}, True),
    ("FALSE or a = 1", {"a": "1"}, True),
])
def test_grammar(text, props, want):
    assert sql(text).evaluate(props) is want


@pytest.mark.parametrize("text", ["a > 5", "a = 'x'", "not a = 1", "a between 1 and 2",
                                  "a in ('x')", "a not in ('x')"])
def test_missing_property_is_unknown_and_filters_out(text):
    assert sql(text).evaluate({}) is False


def test_unknown_or_true_is_true_and_unknown_and_false_is_false():
    assert sql("a = 1 or b = 1").evaluate({"b": "1"})
    assert sql("not (a = 1 and b = 2)").evaluate({"b": "1"}) is True


def test_non_number_against_number_never_matches():
    assert not sql("a > 5").evaluate({"a": "abc"})
    assert not sql("a = 5").evaluate({"a": "abc"})


@pytest.mark.parametrize("text,pos", [("a >= ", 5), ("a @ 1", 1), ("(a = 1", 6),
                                      ("a not 3", 2), ("a = 1 b", 6), ("a in (1)", 6)])
def test_malformed_names_expression_and_position(text, pos):
    with pytest.raises(SqlSyntaxError) as e:
        sql(text)
    assert repr(text) in str(e.value) and f"position {pos}" in str(e.value)


def test_empty_is_an_error_and_compile_is_cached():
    with pytest.raises(SqlSyntaxError):
        sql("  ")
    assert sql("a = 1") is sql("a = 1")
