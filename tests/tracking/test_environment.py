from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from plinth.tracking.environment import (
    CodeVersion,
    capture_code_version,
    installed_packages,
    mlflow_tags,
    requirements_text,
    strip_url_credentials,
)


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Commits need an identity, and the developer's own git config (default branch, hooks)
    # must not leak into the results; the ceiling stops discovery of a repo above tmp_path.
    empty_config = tmp_path / "gitconfig"
    empty_config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty_config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Plinth Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@plinth.invalid")


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def make_repo(root: Path, *, commit: bool = True) -> Path:
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch", "main")
    (repo / "train.py").write_text("print('train')\n")
    if commit:
        git(repo, "add", "train.py")
        git(repo, "commit", "--quiet", "-m", "first")
    return repo


def make_code_version(**overrides: object) -> CodeVersion:
    fields: dict[str, object] = {
        "git_commit": "a" * 40,
        "git_branch": "main",
        "git_dirty": False,
        "git_remote": "https://example.com/org/repo.git",
        "git_repo_root": "/src/repo",
        "entry_point": "train.py",
        "user": "ada",
        "host": "box",
        "python_version": "3.11.7",
        "platform": "Linux-6.1-x86_64",
    }
    fields.update(overrides)
    return CodeVersion(**fields)  # type: ignore[arg-type]


def test_capture_in_committed_repo_reports_commit_branch_and_clean_tree(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)

    cv = capture_code_version(repo, argv0=str(repo / "train.py"))

    assert cv.git_commit == git(repo, "rev-parse", "HEAD")
    assert cv.git_branch == "main"
    assert cv.git_dirty is False
    assert cv.git_repo_root == str(repo.resolve())
    assert cv.entry_point == "train.py"


def test_modified_tracked_file_marks_tree_dirty(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "train.py").write_text("print('changed')\n")

    assert capture_code_version(repo, argv0="train.py").git_dirty is True


def test_staged_new_file_marks_tree_dirty(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "model.py").write_text("")
    git(repo, "add", "model.py")

    assert capture_code_version(repo, argv0="train.py").git_dirty is True


def test_untracked_file_leaves_tree_clean(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    (repo / "checkpoint.pt").write_bytes(b"weights")

    assert capture_code_version(repo, argv0="train.py").git_dirty is False


def test_origin_remote_is_reported_without_credentials(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    git(repo, "remote", "add", "origin", "https://ada:s3cret@example.com/org/repo.git")

    cv = capture_code_version(repo, argv0="train.py")

    assert cv.git_remote == "https://example.com/org/repo.git"


def test_repo_without_origin_has_no_remote(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    git(repo, "remote", "add", "upstream", "https://example.com/org/repo.git")

    assert capture_code_version(repo, argv0="train.py").git_remote is None


def test_detached_head_has_commit_but_no_branch(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    git(repo, "checkout", "--quiet", "--detach")

    cv = capture_code_version(repo, argv0="train.py")

    assert cv.git_branch is None
    assert cv.git_commit == git(repo, "rev-parse", "HEAD")


def test_repo_before_first_commit_has_branch_but_no_commit(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, commit=False)

    cv = capture_code_version(repo, argv0="train.py")

    assert cv.git_commit is None
    assert cv.git_branch == "main"
    assert cv.git_repo_root == str(repo.resolve())


def test_subdirectory_of_repo_reports_entry_point_from_repo_root(tmp_path: Path) -> None:
    repo = make_repo(tmp_path)
    scripts = repo / "scripts"
    scripts.mkdir()

    cv = capture_code_version(scripts, argv0="fit.py")

    assert cv.entry_point == "scripts/fit.py"
    assert cv.git_repo_root == str(repo.resolve())


def test_directory_outside_any_repo_has_no_git_fields(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()

    cv = capture_code_version(plain, argv0="run.py")

    assert (cv.git_commit, cv.git_branch, cv.git_dirty, cv.git_remote, cv.git_repo_root) == (
        None,
        None,
        None,
        None,
        None,
    )
    assert cv.entry_point == str((plain / "run.py").resolve())


def test_missing_git_executable_gives_no_git_fields(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = make_repo(tmp_path)
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))

    cv = capture_code_version(repo, argv0="train.py")

    assert cv.git_commit is None
    assert cv.git_dirty is None
    assert cv.git_repo_root is None


@pytest.mark.parametrize(
    "argv0",
    [pytest.param("", id="repl"), pytest.param("-c", id="python-c"), pytest.param("-", id="stdin")],
)
def test_interactive_session_has_no_entry_point(tmp_path: Path, argv0: str) -> None:
    repo = make_repo(tmp_path)

    assert capture_code_version(repo, argv0=argv0).entry_point is None


def test_host_fields_describe_this_interpreter(tmp_path: Path) -> None:
    cv = capture_code_version(tmp_path, argv0="run.py")

    assert cv.python_version == ".".join(str(part) for part in sys.version_info[:3])
    assert cv.user
    assert cv.host
    assert cv.platform


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param(
            "https://ada:s3cret@example.com/org/repo.git",
            "https://example.com/org/repo.git",
            id="https-user-password",
        ),
        pytest.param(
            "https://ghp_token@example.com/org/repo.git",
            "https://example.com/org/repo.git",
            id="https-token-as-user",
        ),
        pytest.param(
            "http://ada:pw@example.com:8080/repo", "http://example.com:8080/repo", id="http-port"
        ),
        pytest.param(
            "ssh://git:pw@example.com/org/repo.git",
            "ssh://git@example.com/org/repo.git",
            id="ssh-password-dropped-user-kept",
        ),
        pytest.param(
            "ssh://git@example.com/org/repo.git",
            "ssh://git@example.com/org/repo.git",
            id="ssh-user-only",
        ),
        pytest.param("git@example.com:org/repo.git", "git@example.com:org/repo.git", id="scp"),
        pytest.param(
            "https://example.com/org/repo.git", "https://example.com/org/repo.git", id="clean"
        ),
        pytest.param("/srv/git/repo.git", "/srv/git/repo.git", id="local-path"),
    ],
)
def test_strip_url_credentials(url: str, expected: str) -> None:
    assert strip_url_credentials(url) == expected


def test_mlflow_tags_cover_standard_and_plinth_keys() -> None:
    cv = make_code_version(git_dirty=True)

    tags = mlflow_tags(cv, "baseline")

    assert tags == {
        "mlflow.source.git.commit": "a" * 40,
        "mlflow.source.git.branch": "main",
        "mlflow.source.git.repoURL": "https://example.com/org/repo.git",
        "mlflow.source.name": "train.py",
        "mlflow.source.type": "LOCAL",
        "mlflow.user": "ada",
        "mlflow.runName": "baseline",
        "plinth.git.dirty": "true",
        "plinth.host": "box",
        "plinth.python": "3.11.7",
        "plinth.platform": "Linux-6.1-x86_64",
    }


def test_mlflow_tags_omit_unknown_values() -> None:
    cv = make_code_version(
        git_commit=None,
        git_branch=None,
        git_dirty=None,
        git_remote=None,
        git_repo_root=None,
        entry_point=None,
    )

    tags = mlflow_tags(cv, None)

    assert set(tags) == {
        "mlflow.source.type",
        "mlflow.user",
        "plinth.host",
        "plinth.python",
        "plinth.platform",
    }


def test_mlflow_tags_render_clean_tree_as_false() -> None:
    assert mlflow_tags(make_code_version(git_dirty=False), None)["plinth.git.dirty"] == "false"


def test_installed_packages_are_sorted_unique_and_normalised() -> None:
    packages = installed_packages()
    names = [name for name, _ in packages]

    assert names == sorted(set(names))
    assert ("pytest", pytest.__version__) in packages
    assert all(name == name.lower() and "_" not in name for name in names)


def test_installed_packages_returns_a_fresh_list_each_call() -> None:
    first = installed_packages()
    first.clear()

    assert installed_packages() != []


@pytest.mark.parametrize(
    ("packages", "expected"),
    [
        pytest.param([("numpy", "2.1.0"), ("py-yaml", "6.0")], "numpy==2.1.0\npy-yaml==6.0\n"),
        pytest.param([], "", id="empty"),
    ],
)
def test_requirements_text_uses_pip_freeze_format(
    packages: list[tuple[str, str]], expected: str
) -> None:
    assert requirements_text(packages) == expected
