"""``linreg-tui predict RUN --data FILE [--keep COL ...] [--out FILE] [--json]``: a run's model on
raw rows.

The rows are read by the model's raw feature names (its target column may be there too and is
carried through); the predictions repeat training's own arithmetic
(:class:`engine.runs.model_file.LinearModel`). A regression model adds ``<target>_pred``; a
binary classifier ``prob`` (the probability of the second class, ``σ(z)``) and ``class``; a
multiclass one ``prob_<class>`` per class (``softmax(z)``) and ``class``. Classes are written as
the training data had them (``1``, not ``1.0``). ``--keep COL`` carries a column (an id) from
the input unchanged, as text (:mod:`engine.cli.predict_keep`); ``--json`` writes whole numbers
as integers and other numbers as the shortest text that reads back as the same float32 (``32.1``
not ``32.099998474121094``), as the CSV does. Torch is imported only when the command runs.

The file is streamed: each ~256 kB block of CSV is read, predicted and written before the next,
so memory stays near one block's tensor whatever the file's size (``benchmarks/
bench_predict.py``). ``--out`` is written atomically and never replaces anything but a regular
file other than the input (:mod:`engine.cli.predict_out`). Non-finite predictions (inputs near
the float32 limit) are counted in one warning line naming the first data row.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.cli.common import EXIT_FAILED, EXIT_OK, add_run_arg, add_runs_dir_arg, fit_line, say
from engine.config import ConfigError

if TYPE_CHECKING:
    import numpy as np
    from torch import Tensor

    from engine.cli.predict_keep import KeptColumns
    from engine.runs.model_file import LinearModel

HELP = "apply a run's saved model to the raw rows of a CSV file"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``predict``."""
    add_run_arg(p)
    p.add_argument(
        "file",
        metavar="FILE.csv",
        nargs="?",
        default=None,
        help="the rows (the same as --data FILE)",
    )
    p.add_argument(
        "--data",
        metavar="FILE",
        default=None,
        help="CSV or Parquet rows with the run's raw feature columns "
        "(its target column may be there too; it is carried through)",
    )
    p.add_argument(
        "--keep",
        action="append",
        default=[],
        metavar="COL",
        help="carry this input column (an id) to the output unchanged; repeatable",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        default=None,
        help="write the CSV here (atomically) instead of to stdout",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    add_runs_dir_arg(p)


def _data_path(args: argparse.Namespace) -> Path:
    """The input file: ``--data FILE`` or the positional ``FILE.csv`` (one of them)."""
    if args.file is not None and args.data is not None:
        raise ConfigError("predict: give the rows once: --data FILE or FILE.csv, not both")
    given = args.data if args.data is not None else args.file
    if given is None:
        raise ConfigError("predict: which rows? give --data FILE (a CSV or Parquet file)")
    return Path(given).expanduser()


def run(args: argparse.Namespace) -> int:
    """Read rows by the model's raw feature names block by block, predict each block, write
    rows + the prediction columns (to a temp file renamed over ``--out``, or to stdout)."""
    from engine.cli.predict_keep import KeptColumns, check_keep
    from engine.cli.predict_out import WriteFailed, atomic_output, check_target
    from engine.data.blocks import STREAM_BLOCK_BYTES, table_blocks
    from engine.data.tables import file_columns, pick_columns
    from engine.runs.model_file import load_model
    from engine.runs.store import resolve_run, runs_dir

    run_dir = resolve_run(args.run, runs_dir(args.runs_dir))
    model = load_model(run_dir / "model.pt")
    path = _data_path(args)
    out = Path(args.out).expanduser() if args.out else None
    header = file_columns(path, key=None)  # refuses a FIFO, device or directory first
    if out is not None:
        check_target(out, path)
    names = list(model.raw_features)
    keep = check_keep(path, header, args.keep)
    target = [model.target] if model.target not in names else []
    try:
        columns = pick_columns(path, header, names, [*target, *keep])
    except ConfigError as exc:
        if exc.reason != "unexpected column":
            raise
        raise ConfigError(
            f"{exc}; --keep COL carries a column through",
            key=exc.key,
            reason=exc.reason,
            where=exc.where,
        ) from None
    columns = [c for c in columns if c in names or c in target]  # the numbers read
    kept = KeptColumns(path, header, keep, STREAM_BLOCK_BYTES) if keep else None
    blocks = table_blocks(path, header, columns)

    writer = BlockWriter(model, names, columns, as_json=args.json, kept=kept)
    try:
        if out is None:
            writer.write_all(blocks, lambda data: sys.stdout.write(data.decode()))
        else:
            with atomic_output(out) as fh:
                writer.write_all(blocks, fh.write)
    except WriteFailed as exc:  # a SIGTERM unwinds like Ctrl-C (common.leave_on_signals)
        say(fit_line(f"error: {exc}"))
        return EXIT_FAILED
    if writer.bad_rows:
        say(
            f"warning: {writer.bad_rows} prediction(s) are not finite (inf or nan: inputs near "
            f"the float32 limit?), the first at data row {writer.first_bad}"
        )
    if out is not None:
        say(f"wrote {writer.rows} predictions to {out}")
    return EXIT_OK


def prediction_columns(model: LinearModel, taken: Sequence[str]) -> list[str]:
    """The names of the columns ``predict`` adds, clear of the input's names in ``taken``:
    ``<target>_pred`` (else ``prediction``); ``prob`` or ``prob_<class>`` and ``class`` (each
    prefixed ``pred_`` when the input has a column of that name)."""
    from engine.runs.predictions import class_value

    if model.task == "regression":
        name = f"{model.target}_pred"
        return [name if name not in taken else "prediction"]
    classes = model.classes or []
    probs = ["prob"] if model.task == "binary" else [f"prob_{class_value(c)}" for c in classes]
    names = [*probs, "class"]
    if any(n in taken for n in names):
        names = [f"pred_{n}" for n in names]
    return names


class BlockWriter:
    """Predicts each block and writes it as CSV (pyarrow's writer: shortest float32 text, 32.1
    not 32.0999985; integers as integers) or JSON lines; counts rows and non-finite
    predictions. The kept columns (``kept``) go first, then the input's numbers, then the
    predictions."""

    def __init__(
        self,
        model: LinearModel,
        names: list[str],
        columns: list[str],
        *,
        as_json: bool,
        kept: KeptColumns | None = None,
    ) -> None:
        self.model, self.k, self.columns, self.as_json = model, len(names), columns, as_json
        self.kept = kept
        self.kept_names = kept.names if kept is not None else []
        shown = [c for c in columns if c not in self.kept_names]
        self.shown = [columns.index(c) for c in shown]
        self.added = prediction_columns(model, [*shown, *self.kept_names])
        self.header = [*self.kept_names, *shown, *self.added]
        self.column = self.added[0]
        """The (first) prediction column's name."""
        self.rows, self.bad_rows, self.first_bad = 0, 0, 0

    def write_all(self, blocks: Iterable[Tensor], write: Callable[[bytes], object]) -> None:
        """Header (CSV), then every block's rows with their predictions.

        One torch thread meanwhile: a block's matrix-vector product is ~0.05 ms on one, but
        ~25 ms when torch's two-thread pool spins against a busy second core."""
        import torch

        if not self.as_json:
            head = io.StringIO()
            csv.writer(head, lineterminator="\n").writerow(self.header)
            write(head.getvalue().encode())
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for block in blocks:
                write(self.encode(block))
        finally:
            torch.set_num_threads(threads)

    def predictions(self, block: Tensor) -> list[np.ndarray]:
        """The added columns for one block (float32 values or probabilities; classes as
        ``int64`` when whole numbers), counting non-finite rows."""
        import torch

        x = block[:, : self.k]
        if self.model.task == "regression":
            values = self.model.regress(x).reshape(-1, 1)
            classes = None
        else:
            values, classes = self.model.classify(x)
            values = values.reshape(len(block), -1)
        finite = torch.isfinite(values).all(dim=1)
        if not bool(finite.all()):
            if not self.bad_rows:
                self.first_bad = self.rows + int(torch.nonzero(~finite)[0, 0]) + 1
            self.bad_rows += int((~finite).sum())
        cols = [values[:, j].to(torch.float32).numpy() for j in range(values.shape[1])]
        return cols if classes is None else [*cols, classes.numpy()]

    def encode(self, block: Tensor) -> bytes:
        import pyarrow as pa

        added = self.predictions(block)
        kept = self.kept.take(len(block)) if self.kept is not None else []
        self.rows += len(block)
        cells = block.numpy()
        arrays = [*kept, *(pa.array(cells[:, j]) for j in self.shown), *map(pa.array, added)]
        if self.as_json:
            return json_lines(self.header, arrays)
        if kept:
            return csv_lines(arrays)
        from pyarrow import csv as pcsv

        table = pa.table({f"c{j}": a for j, a in enumerate(arrays)})
        buf = pa.BufferOutputStream()
        pcsv.write_csv(table, buf, pcsv.WriteOptions(include_header=False, quoting_style="needed"))
        return bytes(buf.getvalue().to_pybytes())


def csv_lines(arrays: Sequence[Any]) -> bytes:
    """CSV rows of text and number columns with text written as it was read: quoted only
    where it must be (a comma, quote or line break in it), unlike pyarrow's writer, which
    quotes every string. Numbers as pyarrow's writer gives them (its cast to text)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cells = []
    for array in arrays:
        text = array.cast(pa.string())
        if pa.types.is_string(array.type):
            quoted = pc.binary_join_element_wise(
                '"', pc.replace_substring(text, '"', '""'), '"', ""
            )
            text = pc.if_else(pc.match_substring_regex(text, '[",\r\n]'), quoted, text)
        cells.append(text)
    rows = pc.binary_join_element_wise(*cells, ",", null_handling="replace")  # a null: empty
    return ("\n".join(rows.to_pylist()) + "\n").encode() if len(rows) else b""


def json_lines(keys: list[str], arrays: Sequence[Any]) -> bytes:
    """One JSON object per row: text as strings, numbers as :func:`json_numbers` gives them."""
    columns = [json_numbers(a) for a in arrays]
    return "".join(json.dumps(dict(zip(keys, row))) + "\n" for row in zip(*columns)).encode()


def json_numbers(array: Any) -> list[Any]:
    """A column's values for JSON: floats by their shortest text (the CSV's: ``32.1`` for the
    float32 32.099998…), whole numbers as integers; text and other types as they are."""
    import pyarrow as pa

    if not pa.types.is_floating(array.type):
        return list(array.to_pylist())
    return [_number(text) for text in array.cast(pa.string()).to_pylist()]


def _number(text: str) -> int | float:
    digits = text.removeprefix("-")
    return int(text) if digits.isdigit() else float(text)
