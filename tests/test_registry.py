import pytest

from harness.api.errors import UnknownNameError, WsbenchError, did_you_mean
from harness.api.registry import Registry


def test_lazy_entry_imports_on_first_use_and_lists_without_importing():
    reg = Registry("thing")
    reg.add_lazy("dec", "decimal:Decimal")
    reg.add_lazy("frac", "fractions:Fraction")
    assert reg.names() == ["dec", "frac"]
    assert reg.names("fr*") == ["frac"]
    import decimal

    assert reg.get("dec") is decimal.Decimal


def test_duplicate_name_raises():
    reg = Registry("thing")
    reg.add_lazy("a", "decimal:Decimal")
    with pytest.raises(ValueError, match="duplicate"):
        reg.add_lazy("a", "fractions:Fraction")


def test_miss_says_did_you_mean():
    reg = Registry("strategy")
    reg.add_lazy("spos", "decimal:Decimal")
    with pytest.raises(UnknownNameError) as e:
        reg.get("spso")
    msg = str(e.value)
    assert "unknown strategy 'spso'" in msg and "did you mean 'spos'" in msg and "\n" not in msg
    assert isinstance(e.value, WsbenchError)


def test_did_you_mean_empty_when_nothing_close():
    assert did_you_mean("zzzz", ["spos", "fairnas"]) == ""


def test_project_registries_resolve():
    from harness.api.ground_truth import GROUND_TRUTHS
    from harness.engine.protocols import PROTOCOLS
    from spaces import SPACES
    from strategies import STRATEGIES

    assert "nb201" in SPACES and SPACES.get("nb201").num_archs == 15625
    assert STRATEGIES.get("spos").version >= 1
    assert {"nb201/csv", "nb201/analog", "nb201/nb201-pth", "nb201/nats"} <= set(GROUND_TRUTHS.names())
    assert PROTOCOLS.get("quick").epochs >= 1
