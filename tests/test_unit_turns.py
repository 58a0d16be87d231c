"""``PrefectTurns``: the flow runs of one serve process start and end one at a time, and
run their bodies side by side (a Prefect server on SQLite answers two flow runs created at
the same moment with a 503, and its client then waits 2 s)."""

from __future__ import annotations

import threading

from workbench.service.warm import PrefectTurns

WAIT = 60       # seconds: only a broken implementation ever waits this long


def test_a_second_run_waits_for_the_first_to_start_and_not_for_its_body():
    turns = PrefectTurns()
    in_body, body_may_end, second_started = (threading.Event() for _ in range(3))

    def first():
        with turns.turn():              # Prefect creates and starts the run here...
            with turns.working():       # ...the body, outside the turn
                in_body.set()
                assert body_may_end.wait(WAIT)

    def second():
        with turns.turn():
            second_started.set()

    one = threading.Thread(target=first)
    with turns.turn():                  # the first run waits while another starts
        one.start()
        assert not in_body.wait(0.2)
    assert in_body.wait(WAIT)           # then it starts, and its body goes on...
    two = threading.Thread(target=second)
    two.start()
    assert second_started.wait(WAIT)    # ...while a second run starts and ends
    body_may_end.set()
    one.join(WAIT)
    two.join(WAIT)
    assert not one.is_alive() and not two.is_alive()


def test_a_failing_body_gives_the_turn_back():
    turns = PrefectTurns()
    try:
        with turns.turn(), turns.working():
            raise RuntimeError("the flow failed")
    except RuntimeError:
        pass
    taken = threading.Event()
    threading.Thread(target=lambda: (turns.turn().__enter__(), taken.set())).start()
    assert taken.wait(WAIT)
