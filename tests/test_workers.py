"""Worker processes: an interrupt while results are being taken leaves nothing on stderr but the CLI's line."""

import gc
import threading
import time
import warnings

import pytest

from stakealloc import workers


def _slow(i: int) -> int:
    time.sleep(0.2)
    return i


@pytest.mark.slow
def test_an_interrupt_while_taking_results_cancels_the_rest_without_a_warning():
    """Ctrl-C that lands in `take` (between results, not inside joblib) used to leave joblib's generator to be
    collected later, which warned "N tasks which were still being processed by the workers have been
    cancelled" on stderr under the CLI's one line (seen in CI). Cancelling them is the point: no warning."""
    taken = []

    def take(result):
        taken.append(result)
        raise KeyboardInterrupt

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        with pytest.raises(KeyboardInterrupt):
            workers.for_each(_slow, [(i,) for i in range(8)], 2, take)
        gc.collect()
    assert taken == [0]
    assert not [w for w in seen if "cancelled" in str(w.message) or "not used" in str(w.message)], \
        [str(w.message) for w in seen]


def test_the_pool_manager_thread_dies_quietly_while_an_interrupted_pool_shuts_down(monkeypatch):
    """loky's manager thread may die of a KeyError while an interrupted pool is cancelled (seen in CI, printed
    under the CLI's line): inside the shutdown its exception is dropped, any other thread's still goes to the
    hook in place (here a recorder), and that hook is restored after."""
    seen = []
    monkeypatch.setattr(threading, "excepthook", lambda args: seen.append((args.thread.name, args.exc_type)))
    hook = threading.excepthook

    def die(name):
        t = threading.Thread(target=lambda: {}[1], name=name)
        t.start()
        t.join()

    with workers._quiet_pool_manager():
        die("ExecutorManagerThread")
        die("other")
    assert threading.excepthook is hook
    die("ExecutorManagerThread")
    assert seen == [("other", KeyError), ("ExecutorManagerThread", KeyError)]
