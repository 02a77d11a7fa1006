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
    from harness.catalog import GROUND_TRUTHS, PROTOCOLS, SPACES, STRATEGIES

    assert "nb201" in SPACES and SPACES.get("nb201").num_archs == 15625
    assert STRATEGIES.get("spos").version >= 1
    assert {"nb201/csv", "nb201/analog", "nb201/nb201-pth", "nb201/nats"} <= set(GROUND_TRUTHS.names())
    assert PROTOCOLS.get("quick").epochs >= 1


def test_discovery_runs_once_and_a_second_thread_waits_for_it():
    import threading
    import time

    calls = []

    def discover(reg):
        calls.append(1)
        time.sleep(0.2)  # another thread asks meanwhile
        reg.add_lazy("dec", "decimal:Decimal")

    reg = Registry("thing", discover=discover)
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(reg.names())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == [1] and seen == [["dec"]] * 3


def test_a_failed_discovery_is_reported_again_not_half_remembered():
    def discover(reg):
        reg.add_lazy("dec", "decimal:Decimal")
        raise WsbenchError("plugin package broken")

    reg = Registry("thing", discover=discover)
    for _ in range(2):
        with pytest.raises(WsbenchError, match="broken"):
            reg.names()
