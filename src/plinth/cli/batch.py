"""``plinth batch``: score files with a model.

``plinth batch predict --model models:/churn@champion --input customers.parquet
--output scores/ --id-cols customer_id`` writes a Parquet dataset of ids, predictions and
the model version, using every core; run it again after a crash and it resumes.
"""

from __future__ import annotations

import typer

from plinth.cli import client_of
from plinth.cli.output import key_value_table, print_table

app = typer.Typer(help="Batch inference over Parquet or CSV files.", no_args_is_help=True)


@app.command("predict")
def predict(
    ctx: typer.Context,
    model: str = typer.Option(
        ..., "--model", "-m", help="models:/NAME/VERSION, models:/NAME@ALIAS, runs:/... or a path."
    ),
    input_path: str = typer.Option(
        ..., "--input", "-i", help="A Parquet file, a directory of Parquet files, or a CSV file."
    ),
    output_path: str = typer.Option(
        ..., "--output", "-o", help="Output directory (a Parquet dataset); rerun to resume."
    ),
    id_cols: list[str] = typer.Option(
        [], "--id-cols", help="Input columns copied to the output (comma-separated or repeated)."
    ),
    chunk_rows: int = typer.Option(
        100_000, "--chunk-rows", min=1, help="Rows per chunk and per output file."
    ),
    workers: int | None = typer.Option(
        None, "--workers", "-w", min=1, help="Worker processes (default: one per core)."
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the output of a different job in --output."
    ),
) -> None:
    """Score --input with --model into the Parquet dataset --output."""
    # Imported here: pyarrow and pandas would slow every other command's start.
    from plinth.serving.batch import batch_predict

    result = batch_predict(
        model,
        input_path,
        output_path,
        id_cols=[name.strip() for value in id_cols for name in value.split(",") if name.strip()],
        chunk_rows=chunk_rows,
        workers=workers,
        client=client_of(ctx),
        overwrite=overwrite,
    )
    skipped = f" ({result.chunks_skipped} already written)" if result.chunks_skipped else ""
    rows = [
        ("rows", f"{result.rows:,}"),
        ("chunks", f"{result.chunks:,}{skipped}"),
        ("seconds", f"{result.seconds:.2f}"),
        ("rows/s", f"{result.rows_per_second:,.0f}"),
        ("output", result.output_path),
        ("model version", _model_version(result.model_name, result.model_version, model)),
        ("run id", result.run_id),
    ]
    print_table(key_value_table(rows, title="Batch predictions"))


def _model_version(name: str | None, version: str | None, uri: str) -> str:
    return f"{name}/{version}" if name is not None else uri
