"""Where a run's code came from: git state, entry point, host and installed packages.

Everything here is best effort and side-effect free: a machine without ``git``, a directory
outside any repository or a hung git command yields ``None`` fields, never an exception,
because a missing code version must not stop a training run from starting.
"""

from __future__ import annotations

import functools
import getpass
import importlib.metadata
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

GIT_TIMEOUT_SECONDS = 5.0
"""Upper bound for each ``git`` call; a slow network filesystem must not stall run start."""

SOURCE_TYPE_LOCAL = "LOCAL"

# sys.argv[0] in a REPL (""), for `python -c` ("-c"), for a script piped on stdin ("-") and,
# while the module is still being located, for `python -m` ("-m"): no script file to name.
_NO_SCRIPT_ARGV0 = frozenset({"", "-", "-c", "-m"})

_NAME_SEPARATORS = re.compile(r"[-_.]+")


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeVersion:
    """The code and machine a run was started from.

    Attributes:
        git_commit: Full SHA of ``HEAD``; ``None`` outside a repository or before the first commit.
        git_branch: Checked-out branch; ``None`` on a detached ``HEAD`` or outside a repository.
        git_dirty: Whether tracked files differ from ``HEAD``; ``None`` outside a repository.
        git_remote: URL of the ``origin`` remote with any credentials removed.
        git_repo_root: Absolute path of the work tree's top directory.
        entry_point: The script that was run, relative to the repository root when inside it;
            ``None`` for interactive and ``python -c`` sessions.
        user: Login name of the current user (``"unknown"`` when the OS has none).
        host: Host name of the machine.
        python_version: Interpreter version, e.g. ``"3.11.7"``.
        platform: OS and architecture string from :func:`platform.platform`.
    """

    git_commit: str | None
    git_branch: str | None
    git_dirty: bool | None
    git_remote: str | None
    git_repo_root: str | None
    entry_point: str | None
    user: str
    host: str
    python_version: str
    platform: str


@dataclass(frozen=True, slots=True)
class _GitState:
    commit: str | None
    branch: str | None
    dirty: bool | None
    remote: str | None


_NO_GIT = _GitState(None, None, None, None)


def capture_code_version(cwd: Path | None = None, argv0: str | None = None) -> CodeVersion:
    """Describe the code in ``cwd`` and the script that is running.

    Args:
        cwd: Directory whose repository to inspect; defaults to the process's working directory.
            A relative ``argv0`` is resolved against it too.
        argv0: The script path as in ``sys.argv[0]`` (the default).

    Returns:
        The code version; git fields are ``None`` when ``git`` is missing, fails or times out,
        or when ``cwd`` is not inside a work tree.
    """
    work_dir = cwd if cwd is not None else Path.cwd()
    script = argv0 if argv0 is not None else sys.argv[0]
    top = _git(work_dir, "rev-parse", "--show-toplevel")
    repo_root = Path(top).resolve() if top else None
    git = _git_state(work_dir) if repo_root is not None else _NO_GIT
    return CodeVersion(
        git_commit=git.commit,
        git_branch=git.branch,
        git_dirty=git.dirty,
        git_remote=git.remote,
        git_repo_root=str(repo_root) if repo_root is not None else None,
        entry_point=_entry_point(script, work_dir, repo_root),
        user=_user_name(),
        host=socket.gethostname(),
        python_version=platform.python_version(),
        platform=platform.platform(),
    )


def mlflow_tags(cv: CodeVersion, run_name: str | None) -> dict[str, str]:
    """The MLflow standard run tags plus Plinth's own ``plinth.*`` tags for ``cv``.

    Args:
        cv: The captured code version.
        run_name: The run's display name, if any.

    Returns:
        Tag key to value; keys whose value is unknown (``None``) are left out.
    """
    dirty = None if cv.git_dirty is None else str(cv.git_dirty).lower()
    tags: dict[str, str | None] = {
        "mlflow.source.git.commit": cv.git_commit,
        "mlflow.source.git.branch": cv.git_branch,
        "mlflow.source.git.repoURL": cv.git_remote,
        "mlflow.source.name": cv.entry_point,
        "mlflow.source.type": SOURCE_TYPE_LOCAL,
        "mlflow.user": cv.user,
        "mlflow.runName": run_name,
        "plinth.git.dirty": dirty,
        "plinth.host": cv.host,
        "plinth.python": cv.python_version,
        "plinth.platform": cv.platform,
    }
    return {key: value for key, value in tags.items() if value is not None}


def strip_url_credentials(url: str) -> str:
    """Remove secrets from a git remote URL before it is stored as a tag.

    For http(s) URLs the whole ``user[:password]@`` part is dropped, since hosts accept a
    bare token as the user name. For other URL schemes only a password is dropped, keeping
    conventional users such as ``ssh://git@host``. scp-style ``git@host:path`` is unchanged.

    Args:
        url: The remote URL as configured.

    Returns:
        The URL without credentials.
    """
    parts = urlsplit(url)
    if not parts.scheme or "@" not in parts.netloc:
        return url
    userinfo, _, hostport = parts.netloc.rpartition("@")
    if parts.scheme in ("http", "https"):
        netloc = hostport
    else:
        netloc = f"{userinfo.partition(':')[0]}@{hostport}"
    return urlunsplit(parts._replace(netloc=netloc))


def installed_packages() -> list[tuple[str, str]]:
    """Every distribution importable by this interpreter, as ``(name, version)``.

    Names are normalised as in PEP 503 (lowercase, runs of ``-_.`` become ``-``). The scan
    runs once per process, so packages installed after the first call are not seen.

    Returns:
        A new list sorted by name, one entry per name.
    """
    return list(_scan_packages())


def requirements_text(pkgs: Iterable[tuple[str, str]]) -> str:
    """Render packages in ``pip freeze`` format (``name==version``, one per line).

    Args:
        pkgs: ``(name, version)`` pairs, typically from :func:`installed_packages`.

    Returns:
        The requirements file text, newline-terminated; empty when there are no packages.
    """
    return "".join(f"{name}=={version}\n" for name, version in pkgs)


@functools.cache
def _scan_packages() -> tuple[tuple[str, str], ...]:
    # Cached because walking every dist-info on sys.path takes tens to hundreds of
    # milliseconds and run start calls this each time; a tuple so callers can't mutate it.
    found: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        # A dist-info without a Name (half-removed install) has nothing to pin.
        raw_name: str | None = dist.metadata["Name"]
        if not raw_name:
            continue
        # distributions() follows sys.path order, so the first copy is the importable one.
        found.setdefault(_NAME_SEPARATORS.sub("-", raw_name).lower(), dist.version)
    return tuple(sorted(found.items()))


def _git(cwd: Path, *args: str) -> str | None:
    try:
        completed = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        # git not installed, cwd gone, or git hung (e.g. on a stale network mount): the code
        # version is advisory, so report "unknown" rather than failing the run.
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.strip()


def _git_state(cwd: Path) -> _GitState:
    return _GitState(
        # Empty output (unborn branch, detached HEAD) means "none", like a failed call.
        commit=_git(cwd, "rev-parse", "--verify", "--quiet", "HEAD^{commit}") or None,
        branch=_git(cwd, "symbolic-ref", "--quiet", "--short", "HEAD") or None,
        dirty=_is_dirty(cwd),
        remote=_origin_url(cwd),
    )


def _is_dirty(cwd: Path) -> bool | None:
    # Tracked changes only, as MLflow does (is_dirty(untracked_files=False)): ML work trees
    # routinely hold untracked outputs (checkpoints, logs, data) that don't change the code
    # at the recorded commit, and counting them would flag nearly every run as dirty.
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    return None if status is None else status != ""


def _origin_url(cwd: Path) -> str | None:
    url = _git(cwd, "remote", "get-url", "origin")
    return strip_url_credentials(url) if url else None


def _entry_point(argv0: str, cwd: Path, repo_root: Path | None) -> str | None:
    if argv0 in _NO_SCRIPT_ARGV0:
        return None
    script = (cwd / argv0).resolve()
    if repo_root is not None and script.is_relative_to(repo_root):
        return script.relative_to(repo_root).as_posix()
    return str(script)


def _user_name() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        # Containers often run as a uid with no passwd entry and no USER/LOGNAME variable.
        return "unknown"
