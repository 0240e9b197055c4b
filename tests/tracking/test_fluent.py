"""The fluent SDK, embedded and through a server (see the ``tracking`` fixture)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import plinth
from plinth.config import Settings


def test_run_records_params_metrics_and_tags_in_mlflow_shape(tracking: Settings) -> None:
    plinth.set_experiment("churn")
    with plinth.start_run(run_name="gbm", tags={"team": "risk"}) as run:
        plinth.log_params({"max_depth": 3, "lr": 0.1})
        plinth.log_param("model", "gbm")
        for step, auc in enumerate([0.7, 0.8, 0.9]):
            plinth.log_metric("auc", auc, step=step)
        plinth.log_metrics({"loss": 0.3, "acc": 0.8})
        plinth.set_tags({"stage": "dev"})

    got = plinth.get_run(run.run_id)
    assert got.info.run_id == run.run_id
    assert got.info.status == "FINISHED"
    assert got.info.run_name == "gbm"
    assert got.info.end_time is not None
    assert got.data.params == {"max_depth": "3", "lr": "0.1", "model": "gbm"}
    assert got.data.metrics == {"auc": 0.9, "loss": 0.3, "acc": 0.8}
    assert got.data.tags["team"] == "risk"
    assert got.data.tags["stage"] == "dev"
    assert got.data.tags["mlflow.runName"] == "gbm"


def test_metric_history_keeps_every_point_in_step_order(tracking: Settings) -> None:
    with plinth.start_run() as run:
        for step in (2, 0, 1):
            plinth.log_metric("loss", 1.0 / (step + 1), step=step)
        plinth.log_metric("nan_metric", math.nan)
    history = plinth.get_metric_history(run.run_id, "loss")
    assert [m.step for m in history] == [0, 1, 2]
    assert [m.value for m in history] == [1.0, 0.5, 1.0 / 3]
    assert math.isnan(plinth.get_run(run.run_id).data.metrics["nan_metric"])


def test_code_version_and_environment_are_captured(
    tracking: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@x",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@x",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "train.py").write_text("print('hi')\n")
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "init"], cwd=repo, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()
    monkeypatch.chdir(repo)

    with plinth.start_run() as run:
        pass

    tags = plinth.get_run(run.run_id).data.tags
    assert tags["mlflow.source.git.commit"] == commit
    assert tags["mlflow.source.git.branch"] == "main"
    assert tags["plinth.git.dirty"] == "false"
    assert tags["mlflow.user"]
    assert "plinth.python" in tags
    names = [f.path for f in plinth.list_artifacts(run.run_id)]
    assert "requirements.txt" in names
    requirements = Path(plinth.download_artifacts(run.run_id, "requirements.txt")).read_text()
    assert "pandas==" in requirements


def test_nested_runs_record_their_parent(tracking: Settings) -> None:
    with plinth.start_run() as parent, plinth.start_run(nested=True) as child:
        pass
    assert plinth.get_run(child.run_id).data.tags["mlflow.parentRunId"] == parent.run_id


def test_ending_the_nested_run_inside_its_block_leaves_the_parent_active(
    tracking: Settings,
) -> None:
    with plinth.start_run() as parent:
        with plinth.start_run(nested=True) as child:
            plinth.end_run()
        active = plinth.active_run()
        assert active is not None and active.run_id == parent.run_id
        plinth.log_metric("after", 1.0)
    assert plinth.get_run(parent.run_id).data.metrics == {"after": 1.0}
    assert plinth.get_run(child.run_id).info.status == "FINISHED"
    assert plinth.active_run() is None


def test_end_run_refuses_a_status_that_does_not_end_a_run(tracking: Settings) -> None:
    run = plinth.start_run()
    for status in ("DONE", "RUNNING"):
        with pytest.raises(plinth.InvalidArgumentError, match="FINISHED, FAILED or KILLED"):
            plinth.end_run(status)
    assert plinth.active_run() is run  # still active: nothing was ended
    plinth.end_run("killed")
    assert plinth.get_run(run.run_id).info.status == "KILLED"


def test_more_params_and_tags_than_one_batch_holds_are_all_logged(tracking: Settings) -> None:
    with plinth.start_run() as run:
        plinth.log_params({f"p{i}": i for i in range(250)})
        plinth.set_tags({f"t{i}": i for i in range(150)})
        plinth.log_metrics({f"m{i}": i for i in range(1200)})
    data = plinth.get_run(run.run_id).data
    assert (len(data.params), len(data.metrics)) == (250, 1200)
    assert {f"t{i}" for i in range(150)} <= set(data.tags)


def test_a_second_run_without_nested_is_refused(tracking: Settings) -> None:
    with plinth.start_run(), pytest.raises(plinth.InvalidArgumentError, match="already active"):
        plinth.start_run()


def test_an_exception_marks_the_run_failed(tracking: Settings) -> None:
    with pytest.raises(RuntimeError), plinth.start_run() as run:
        raise RuntimeError("boom")
    assert plinth.get_run(run.run_id).info.status == "FAILED"


def test_logging_into_a_finished_run_is_a_clear_error(tracking: Settings) -> None:
    with plinth.start_run() as run:
        pass
    client = plinth.get_client()
    with pytest.raises(plinth.ConflictError, match="FINISHED"):
        client.log_metric(run.run_id, "late", 1.0)
    client.set_tag(run.run_id, "reviewed", "yes")  # annotating a finished run is fine
    assert plinth.get_run(run.run_id).data.tags["reviewed"] == "yes"


def test_artifacts_round_trip(tracking: Settings, tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("alpha")
    (src / "sub" / "b.bin").write_bytes(bytes(range(256)) * 1000)
    with plinth.start_run() as run:
        plinth.log_artifacts(src, "data")
        plinth.log_artifact(src / "a.txt")
        plinth.log_text("hello", "notes/hello.txt")
        plinth.log_dict({"k": [1, 2]}, "conf/c.json")

    top = {f.path: f.is_dir for f in plinth.list_artifacts(run.run_id)}
    assert top["data"] is True and top["a.txt"] is False and top["notes"] is True
    sub = [f.path for f in plinth.list_artifacts(run.run_id, "data/sub")]
    assert sub == ["data/sub/b.bin"]
    out = Path(plinth.download_artifacts(run.run_id, "data", tmp_path / "out"))
    assert (out / "sub" / "b.bin").read_bytes() == (src / "sub" / "b.bin").read_bytes()
    text = Path(plinth.download_artifacts(run.run_id, "notes/hello.txt", tmp_path / "o2"))
    assert text.read_text() == "hello"


def test_log_config_flattens_into_params_and_keeps_the_file(
    tracking: Settings, tmp_path: Path
) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("model:\n  depth: 4\n  lr: 0.05\nfeatures: [age, tenure]\n")
    with plinth.start_run() as run:
        flat = plinth.log_config(config)
    assert flat == {
        "model.depth": "4",
        "model.lr": "0.05",
        "features.0": "age",
        "features.1": "tenure",
    }
    assert plinth.get_run(run.run_id).data.params["model.depth"] == "4"
    assert "config/train.yaml" in [f.path for f in plinth.list_artifacts(run.run_id, "config")]


def test_log_config_refused_leaves_the_logged_config_untouched(
    tracking: Settings, tmp_path: Path
) -> None:
    config = tmp_path / "train.yaml"
    config.write_text("depth: 3\n")
    with plinth.start_run() as run:
        plinth.log_config(config)
        config.write_text("depth: 99\n")
        with pytest.raises(plinth.InvalidArgumentError, match="depth"):
            plinth.log_config(config)  # params are immutable
    got = Path(plinth.download_artifacts(run.run_id, "config/train.yaml", tmp_path / "out"))
    assert got.read_text() == "depth: 3\n"


def test_download_artifacts_without_a_run_id_needs_an_active_run(tracking: Settings) -> None:
    with pytest.raises(plinth.InvalidArgumentError, match="needs a run_id"):
        plinth.download_artifacts(artifact_path="model")
    assert plinth.active_run() is None and len(plinth.search_runs()) == 0


def test_search_runs_takes_one_experiment_id_as_a_string(tracking: Settings) -> None:
    # An id of two digits, beside experiments named by each of its digits.
    ids = [plinth.set_experiment(f"e{i}").experiment_id for i in range(12)]
    two_digit = next(i for i in ids if len(i) == 2)
    for experiment_id in (two_digit[0], two_digit[1], two_digit):
        plinth.set_experiment(experiment_id=experiment_id)
        with plinth.start_run() as run:
            pass
    frame = plinth.search_runs(experiment_ids=two_digit)
    assert list(frame["run_id"]) == [run.run_id]


def test_log_input_records_the_data_version(tracking: Settings) -> None:
    df = pd.DataFrame({"age": np.arange(10), "churn": [0, 1] * 5})
    with plinth.start_run() as run:
        first = plinth.log_input(df, name="customers")
    inputs = plinth.get_run(run.run_id).inputs.dataset_inputs
    assert [i.dataset.name for i in inputs] == ["customers"]
    assert inputs[0].dataset.digest == first.digest
    assert inputs[0].context == "training"
    assert '"num_rows": 10' in (inputs[0].dataset.profile or "")
    changed = df.assign(age=df.age + 1)
    with plinth.start_run():
        second = plinth.log_input(changed, name="customers")
    assert second.digest != first.digest


def test_search_runs_returns_an_mlflow_style_frame(tracking: Settings) -> None:
    plinth.set_experiment("search")
    for i, model in enumerate(["gbm", "lr", "gbm"]):
        with plinth.start_run(run_name=f"r{i}"):
            plinth.log_param("model", model)
            plinth.log_metric("auc", 0.7 + i / 10)
    frame = plinth.search_runs(
        experiment_names=["search"],
        filter_string="params.model = 'gbm' and metrics.auc > 0.5",
        order_by=["metrics.auc DESC"],
    )
    assert list(frame["metrics.auc"]) == pytest.approx([0.9, 0.7])
    assert set(frame["params.model"]) == {"gbm"}
    assert {"run_id", "status", "start_time", "tags.mlflow.runName"} <= set(frame.columns)
    assert str(frame["start_time"].dtype).startswith("datetime64")


def test_comments_on_runs(tracking: Settings) -> None:
    with plinth.start_run() as run:
        pass
    plinth.add_comment(run.run_id, "looks overfit")
    comments = plinth.get_client().list_comments(run.run_id)
    assert [c.text for c in comments] == ["looks overfit"]
    assert comments[0].user_id in ("local", "admin")


def test_runs_left_open_at_exit_end_failed_after_a_crash_and_in_every_thread(
    tmp_path: Path,
) -> None:
    done, client = _run_program(
        tmp_path,
        "import threading, plinth\n"
        "t = threading.Thread(target=lambda: print(plinth.start_run().run_id, flush=True))\n"
        "t.start(); t.join()\n"
        "print(plinth.start_run().run_id, flush=True)\n"
        "raise RuntimeError('training diverged')\n",
    )
    assert done.returncode == 1 and "training diverged" in done.stderr
    statuses = {client.get_run(r).info.status.value for r in done.stdout.split()}
    # The crash ends both: the program failed, whichever thread the run was in.
    assert statuses == {"FAILED"}


def test_client_run_status_names_are_case_insensitive_and_checked(tracking: Settings) -> None:
    client = plinth.get_client()
    run_id = client.create_run("0").info.run_id
    assert client.update_run(run_id, status="finished").status == "FINISHED"
    with pytest.raises(plinth.InvalidArgumentError, match="Unknown run status 'done'"):
        client.update_run(run_id, status="done")


def test_log_dict_writes_numpy_values_as_numbers(tracking: Settings, tmp_path: Path) -> None:
    values = {"auc": np.float64(0.5), "n": np.int64(3), "w": np.array([1, 2]), "ok": True}
    with plinth.start_run() as run:
        plinth.log_dict(values, "m.yaml")
        plinth.log_dict(values, "m.json")
    out = tmp_path / "out"
    as_json = Path(plinth.download_artifacts(run.run_id, "m.json", out)).read_text()
    assert json.loads(as_json) == {"auc": 0.5, "n": 3, "w": [1, 2], "ok": True}
    as_yaml = Path(plinth.download_artifacts(run.run_id, "m.yaml", out)).read_text()
    assert "n: 3" in as_yaml and "- 1" in as_yaml


def test_download_into_a_file_is_a_clear_error(tracking: Settings, tmp_path: Path) -> None:
    with plinth.start_run() as run:
        plinth.log_text("x", "a.txt")
    existing = tmp_path / "a.txt"
    existing.write_text("mine")
    with pytest.raises(plinth.InvalidArgumentError, match="is a file"):
        plinth.download_artifacts(run.run_id, "a.txt", existing)
    assert existing.read_text() == "mine"


def test_log_input_tags_are_text_and_bounded(tracking: Settings) -> None:
    frame = pd.DataFrame({"a": [1, 2]})
    with plinth.start_run() as run:
        plinth.log_input(frame, name="d", tags={"n": 1})  # type: ignore[dict-item]
        with pytest.raises(plinth.InvalidArgumentError, match="limit is 500"):
            plinth.log_input(frame, name="e", tags={"long": "x" * 501})
    (only,) = plinth.get_run(run.run_id).inputs.dataset_inputs
    assert {t.key: t.value for t in only.tags}["n"] == "1"


def test_an_error_shown_earlier_does_not_fail_runs_at_a_normal_exit(tmp_path: Path) -> None:
    # A REPL or notebook leaves the last error it displayed in sys.last_value.
    done, client = _run_program(
        tmp_path,
        "import sys, plinth\n"
        "sys.last_type, sys.last_value = ValueError, ValueError('a cell failed earlier')\n"
        "print(plinth.start_run().run_id, flush=True)\n",
    )
    assert done.returncode == 0, done.stderr
    assert client.get_run(done.stdout.strip()).info.status.value == "FINISHED"


def _run_program(
    tmp_path: Path, code: str
) -> tuple[subprocess.CompletedProcess[str], plinth.Client]:
    """Run ``code`` as a program on an embedded store; return it and a client of the store."""
    script = tmp_path / "program.py"
    script.write_text(code)
    env = {**os.environ, "PLINTH_HOME": str(tmp_path / "home")}
    env.pop("PLINTH_URI", None)
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=False
    )
    return done, plinth.Client(Settings(home=tmp_path / "home"))


def test_threads_that_used_the_sdk_and_ended_are_forgotten(tracking: Settings) -> None:
    from plinth.tracking import fluent

    def touch() -> None:
        plinth.active_run()

    for _ in range(50):
        thread = threading.Thread(target=touch)
        thread.start()
        thread.join()
    touch()
    assert len(fluent._state.stacks) < 10
