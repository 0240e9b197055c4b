"""Two processes logging into one SQLite file at the same time lose nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from plinth.entities import now_ms
from plinth.store.factory import open_sql_stores

POINTS = 150
WORKER = f"""
import sys, time
from plinth.entities import Metric, Param, now_ms
from plinth.store.factory import open_sql_stores
uri, run_id, worker, start_at = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
tracking = open_sql_stores(uri).tracking
time.sleep(max(0.0, start_at - time.time()))
for i in range({POINTS}):
    tracking.log_metric(run_id, Metric(key=f"w{{worker}}", value=i, timestamp=now_ms(), step=i))
    tracking.log_param(run_id, Param(f"w{{worker}}_p{{i}}", str(i)))
"""


def test_two_processes_logging_into_one_file_lose_nothing(tmp_path: Path) -> None:
    import time

    uri = f"sqlite:///{tmp_path / 'shared.db'}"
    tracking = open_sql_stores(uri).tracking
    run_id = tracking.create_run("0", user_id="t", start_time=now_ms()).info.run_id
    start_at = str(time.time() + 2)  # both start writing at the same moment
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, uri, run_id, str(w), start_at])
        for w in (1, 2)
    ]
    assert [p.wait(timeout=120) for p in workers] == [0, 0]
    for w in (1, 2):
        history = tracking.get_metric_history(run_id, f"w{w}").items
        assert [m.value for m in history] == list(range(POINTS))
    assert len(tracking.get_run(run_id).data.params) == 2 * POINTS
