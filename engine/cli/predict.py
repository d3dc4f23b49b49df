"""``linreg-tui predict RUN FILE.csv [--out FILE] [--json]``: a run's model on raw rows.

The rows are read by the model's raw feature names (its target column may be there too and is
carried through); the predictions repeat training's own arithmetic
(:class:`engine.runs.model_file.LinearModel`). Torch is imported only when the command runs.

The file is streamed: each ~1 MB block of CSV is read, predicted and written before the next,
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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli.common import EXIT_FAILED, EXIT_OK, add_run_arg, add_runs_dir_arg, fit_line, say

if TYPE_CHECKING:
    from torch import Tensor

    from engine.runs.model_file import LinearModel

HELP = "apply a run's saved model to the raw rows of a CSV file"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """Arguments of ``predict``."""
    add_run_arg(p)
    p.add_argument(
        "file",
        metavar="FILE.csv",
        help="rows with the run's raw feature columns "
        "(its target column may be there too; it is carried through)",
    )
    p.add_argument(
        "--out",
        metavar="FILE",
        default=None,
        help="write the CSV here (atomically) instead of to stdout",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    add_runs_dir_arg(p)


def run(args: argparse.Namespace) -> int:
    """Read rows by the model's raw feature names block by block, predict each block, write
    rows + a prediction column (to a temp file renamed over ``--out``, or to stdout)."""
    from engine.cli.predict_out import WriteFailed, atomic_output, check_target
    from engine.data.blocks import table_blocks
    from engine.data.tables import file_columns, pick_columns
    from engine.runs.model_file import load_model
    from engine.runs.store import resolve_run, runs_dir

    run_dir = resolve_run(args.run, runs_dir(args.runs_dir))
    model = load_model(run_dir / "model.pt")
    path = Path(args.file).expanduser()
    out = Path(args.out).expanduser() if args.out else None
    header = file_columns(path, key=None)  # refuses a FIFO, device or directory first
    if out is not None:
        check_target(out, path)
    names = list(model.raw_features)
    columns = pick_columns(path, header, names, [model.target] if model.target not in names else [])
    blocks = table_blocks(path, header, columns)

    writer = BlockWriter(model, names, columns, as_json=args.json)
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


class BlockWriter:
    """Predicts each block and writes it as CSV (pyarrow's writer: shortest float32 text, 32.1
    not 32.0999985) or JSON lines; counts rows and non-finite predictions."""

    def __init__(
        self, model: LinearModel, names: list[str], columns: list[str], *, as_json: bool
    ) -> None:
        self.model, self.k, self.columns, self.as_json = model, len(names), columns, as_json
        target = model.target
        self.column = f"{target}_pred" if f"{target}_pred" not in columns else "prediction"
        self.rows, self.bad_rows, self.first_bad = 0, 0, 0

    def write_all(self, blocks: Iterable[Tensor], write: Callable[[bytes], object]) -> None:
        """Header (CSV), then every block's rows with their predictions.

        One torch thread meanwhile: a block's matrix-vector product is ~0.05 ms on one, but
        ~25 ms when torch's two-thread pool spins against a busy second core."""
        import torch

        if not self.as_json:
            head = io.StringIO()
            csv.writer(head, lineterminator="\n").writerow([*self.columns, self.column])
            write(head.getvalue().encode())
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            for block in blocks:
                write(self.encode(block))
        finally:
            torch.set_num_threads(threads)

    def encode(self, block: Tensor) -> bytes:
        import torch

        pred = self.model.predict(block[:, : self.k])
        finite = torch.isfinite(pred)
        if not bool(finite.all()):
            if not self.bad_rows:
                self.first_bad = self.rows + int(torch.nonzero(~finite)[0, 0]) + 1
            self.bad_rows += int((~finite).sum())
        self.rows += len(block)
        if self.as_json:
            keys = [*self.columns, self.column]
            return "".join(
                json.dumps(dict(zip(keys, (*row, p)))) + "\n"
                for row, p in zip(block.tolist(), pred.tolist())
            ).encode()
        import pyarrow as pa
        from pyarrow import csv as pcsv

        cells = torch.cat((block, pred.reshape(-1, 1).to(block.dtype)), dim=1).numpy()
        table = pa.table({f"c{j}": cells[:, j] for j in range(cells.shape[1])})
        buf = pa.BufferOutputStream()
        pcsv.write_csv(table, buf, pcsv.WriteOptions(include_header=False, quoting_style="needed"))
        return bytes(buf.getvalue().to_pybytes())
