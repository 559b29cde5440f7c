import pytest

from servicekit import correlation


@pytest.mark.parametrize("good", ["abc", "0f8fad5b-d9cb-469f-a165-70867728950e", "a.b:c/d+e=f_g-h"])
def test_valid_ids_are_accepted(good):
    assert correlation.accept(good) == (good, True)


@pytest.mark.parametrize(
    "bad", ["", "x" * 2048, "abc\ndef", "with space", "ünïcode", 'quote"d', "\x00", "-leading"]
)
def test_invalid_ids_are_replaced(bad):
    new, accepted = correlation.accept(bad)
    assert not accepted
    assert new != bad and correlation.is_valid(new)


def test_bound_restores_the_previous_id():
    with correlation.bound("outer"):
        with correlation.bound("inner"):
            assert correlation.get() == "inner"
        assert correlation.get() == "outer"
