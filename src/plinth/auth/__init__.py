"""Identity: the first admin of a new server, token files."""

from plinth.auth.bootstrap import bootstrap_admin, write_secret_file

__all__ = ["bootstrap_admin", "write_secret_file"]
