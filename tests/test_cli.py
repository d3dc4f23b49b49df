"""The headless CLI: output, exit codes and one clear line for every bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import main
from tests import warm_process

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--set", "train.epochs=5", "--set", "data.n_samples=100"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def bad(capsys, *argv: str) -> str:
    """Run a command that must fail with exit 2 and exactly one stderr line, no traceback."""
    code, out, err = run_cli(capsys, *argv)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_train_prints_progress_and_summary(capsys):
    code, out, err = run_cli(capsys, "train", *QUICK)
    assert code == 0, err
    assert "default: mean((y-ŷ)²) on cpu" in out
    assert "epoch 1/5" in out
    assert "completed 5 epochs" in out
    assert "coefficient" in out and "optimum (exact)" in out and "true" in out
    assert "r2" in out


def test_train_json_is_one_event_per_line(capsys):
    code, out, _ = run_cli(capsys, "train", "--json", *QUICK)
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["type"] for e in events] == ["RunStarted"] + ["EpochEnded"] * 5 + ["RunFinished"]
    assert events[0]["config"]["train"]["epochs"] == 5
    assert events[-1]["reason"] == "completed"


def test_presets_lists_bundled_with_descriptions(capsys):
    code, out, _ = run_cli(capsys, "presets")
    assert code == 0
    for name in ("default", "huber-outliers", "ridge", "quantile", "adam-fast", "diabetes"):
        assert any(line.startswith(name + " ") for line in out.splitlines()), name


def test_diverged_exits_1(capsys):
    code, out, _ = run_cli(
        capsys, "train", "--set", "optim.lr=100", *QUICK[2:], "--set", "train.epochs=200"
    )
    assert code == 1
    assert "diverged at epoch" in out


# --- bad input: exit 2, one line ---------------------------------------------------------------


def test_unknown_preset(capsys):
    assert "unknown preset 'defualt' (did you mean 'default'?)" in bad(capsys, "train", "defualt")


def test_missing_preset_file(capsys, tmp_path):
    assert "preset file not found" in bad(capsys, "train", str(tmp_path / "x.yaml"))


def test_yaml_syntax_error_names_file_and_line(capsys, tmp_path):
    p = write(tmp_path / "broken.yaml", "name: x\noptim:\n  lr: [0.1\n")
    line = bad(capsys, "train", str(p))
    assert f"{p}:" in line and "YAML syntax error" in line
    assert ":4:" in line or ":3:" in line


def test_unknown_key_in_file_suggests_closest(capsys, tmp_path):
    p = write(tmp_path / "typo.yaml", "optim:\n  learning_rate: 0.1\n  lrr: 0.1\n")
    assert "unknown key 'optim.learning_rate'" in bad(capsys, "train", str(p))
    p = write(tmp_path / "typo2.yaml", "optim:\n  lrr: 0.1\n")
    assert "unknown key 'optim.lrr' (did you mean 'optim.lr'?)" in bad(capsys, "train", str(p))


def test_unknown_key_in_override_suggests_closest(capsys):
    line = bad(capsys, "train", "--set", "early_stopping.patiense=3")
    assert "--set early_stopping.patiense=3" in line
    assert "did you mean 'early_stopping.patience'" in line


@pytest.mark.parametrize(
    "override, expected",
    [
        ("optim.lr=abc", "optim.lr must be a number, got 'abc'"),
        ("train.epochs=2.5", "train.epochs must be an integer, got 2.5"),
        ("model.bias=maybe", "model.bias must be true or false"),
        ("optim.lr=0", "optim.lr must be > 0.0"),
        ("optim.lr=-1", "optim.lr must be > 0.0"),
        ("data.val_fraction=1", "data.val_fraction must be < 1.0"),
        ("data.val_fraction=-0.1", "data.val_fraction must be >= 0.0"),
        ("loss.name=hubber", "did you mean 'huber'"),
        ("train.device=gpu", "train.device must be auto, cpu, cuda, cuda:N or mps"),
        ("data.val_fraction=0", "early_stopping.monitor is val_loss but data.val_fraction is 0"),
        ("optim.lr", "expected section.key=value"),
    ],
)
def test_bad_values(capsys, override, expected):
    assert expected in bad(capsys, "train", "--set", override)


def csv_preset(tmp_path: Path, csv_text: str, **data: str) -> Path:
    (tmp_path / "d.csv").write_text(csv_text)
    extra = "".join(f"  {k}: {v}\n" for k, v in data.items())
    return write(
        tmp_path / "p.yaml",
        "data:\n  source: csv\n  path: d.csv\n  target: y\n" + extra + "train:\n  epochs: 3\n",
    )


GOOD_ROWS = "a,b,y\n" + "".join(f"{i},{i % 3},{2 * i + 1}\n" for i in range(20))


def test_csv_relative_path_resolves_from_the_preset_folder(capsys, tmp_path, monkeypatch):
    p = csv_preset(tmp_path, GOOD_ROWS)
    monkeypatch.chdir("/")
    code, out, err = run_cli(capsys, "train", str(p))
    assert code == 0, err
    assert "16 train / 4 val / 0 test rows, 2 features" in out


def test_missing_csv_file(capsys, tmp_path):
    p = write(tmp_path / "p.yaml", "data:\n  source: csv\n  path: nope.csv\n  target: y\n")
    line = bad(capsys, "train", str(p))
    assert "CSV file not found" in line and "nope.csv" in line


def test_missing_target_column(capsys, tmp_path):
    line = bad(capsys, "train", str(csv_preset(tmp_path, GOOD_ROWS.replace("y", "z", 1))))
    assert "data.target column 'y' not found" in line


def test_missing_feature_column(capsys, tmp_path):
    line = bad(capsys, "train", str(csv_preset(tmp_path, GOOD_ROWS, features="[a, c]")))
    assert "data.features column 'c' not found" in line


def test_non_numeric_cell_names_row_and_column(capsys, tmp_path):
    rows = GOOD_ROWS.replace("\n5,2,11\n", "\n5,two,11\n")
    line = bad(capsys, "train", str(csv_preset(tmp_path, rows)))
    assert "d.csv:7: column 'b': 'two' is not a number" in line


def test_empty_cell(capsys, tmp_path):
    rows = GOOD_ROWS.replace("\n5,2,11\n", "\n5,,11\n")
    assert "d.csv:7: column 'b' is empty" in bad(capsys, "train", str(csv_preset(tmp_path, rows)))


def test_too_few_rows_for_the_split(capsys, tmp_path):
    line = bad(capsys, "train", str(csv_preset(tmp_path, "a,y\n1,2\n2,3\n", val_fraction=0.5)))
    assert "too few rows (2)" in line


# --- real processes: exit codes and Ctrl-C -----------------------------------------------------


def test_ctrl_c_stops_cleanly_reports_and_exits_130(tmp_path):
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "engine",
            "train",
            "--json",
            "--set",
            "train.epochs=1000000",
            "--set",
            "early_stopping.enabled=false",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # wait for training to be under way: an epoch logged means the clean-stop handler (set
    # before the first epoch) is in place, so no fixed pause is needed before the signal
    for line in proc.stdout:
        if json.loads(line)["type"] == "EpochEnded":
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    last = json.loads(out.strip().splitlines()[-1])
    assert last["type"] == "RunFinished" and last["reason"] == "cancelled"


def test_bad_input_in_a_real_process_has_no_traceback(tmp_path):
    proc = warm_process.run(
        [sys.executable, "-m", "engine", "train", "--set", "optim.lr=-1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    "override, key, value",
    [
        ("optim.lr=1e-3", "lr", 0.001),  # YAML 1.1 reads 1e-3 as a string; still a number here
        ("early_stopping.min_delta=1e-4", "min_delta", 0.0001),
        ("train.epochs=2e1", "epochs", 20),
    ],
)
def test_scientific_notation_is_a_number(capsys, override, key, value):
    from engine.config.presets import load_config

    cfg = load_config("default", [override])
    section = override.split(".")[0]
    assert getattr(getattr(cfg, section), key) == value


@pytest.mark.parametrize(
    "override, expected",
    [
        ("seed=99999999999999999999999", "--set seed=99999999999999999999999: seed must be <="),
        ("loss.params.q=0.9", "loss.params applies only to custom losses"),
        (
            "data.val_fraction=0",
            "with --set data.val_fraction=0: early_stopping.monitor is val_loss",
        ),
    ],
)
def test_more_bad_values(capsys, override, expected):
    assert expected in bad(capsys, "train", "--set", override)


def test_duplicate_or_unnamed_csv_columns(capsys, tmp_path):
    line = bad(capsys, "train", str(csv_preset(tmp_path, "a,a,y\n" + "1,2,3\n" * 10)))
    assert "column name 'a' appears twice" in line
    line = bad(capsys, "train", str(csv_preset(tmp_path, "a,,y\n" + "1,2,3\n" * 10)))
    assert "column 2 of the header has no name" in line
    line = bad(capsys, "train", str(csv_preset(tmp_path, GOOD_ROWS, features="[a, a]")))
    assert "data.features lists 'a' twice" in line


def test_progress_shows_the_wait_counter_only_with_early_stopping(capsys):
    code, out, _ = run_cli(capsys, "train", *QUICK, "--no-save")
    assert code == 0 and "wait 0/" in out
    code, out, _ = run_cli(
        capsys, "train", *QUICK, "--no-save", "--set", "early_stopping.enabled=false"
    )
    progress = [ln for ln in out.splitlines() if ln.startswith("epoch ")]
    assert code == 0 and progress and not any("wait" in ln for ln in progress)


# --- the command package: one module per command, watch listed, the shared helpers ------------


def test_help_lists_every_command_with_watch(capsys):
    from tui.cli import main as linreg_tui

    with pytest.raises(SystemExit) as done:
        linreg_tui(["--help"])
    out = capsys.readouterr().out
    assert done.value.code == 0
    listed = {line.split()[0] for line in out.splitlines() if line.startswith("    ")}
    assert {
        "watch",
        "train",
        "resume",
        "runs",
        "predict",
        "presets",
        "cv",
        "sweep",
        "check-loss",
    } <= listed


def test_watch_finds_the_run_then_hands_it_to_the_dashboard(capsys, tmp_path):
    runs = tmp_path / "runs"
    assert main(["train", *QUICK, "--runs-dir", str(runs)]) == 0
    capsys.readouterr()
    opened: list[tuple[Path, Path]] = []

    def open_run(run: Path, root: Path) -> int:
        opened.append((run, root))
        return 0

    assert main(["watch", "latest", "--runs-dir", str(runs)], watch_app=open_run) == 0
    assert opened == [(next(runs.iterdir()), runs)]
    assert "unknown run 'nope'" in bad(capsys, "watch", "nope", "--runs-dir", str(runs))
    assert opened == [(next(runs.iterdir()), runs)]  # a bad run never opens the dashboard
    assert "the dashboard is not available here" in bad(
        capsys, "watch", "latest", "--runs-dir", str(runs)
    )


def test_no_command_module_imports_another_command_or_main():
    import ast

    from engine.cli.main import COMMANDS

    commands = {m.__name__ for m in COMMANDS.values()} | {"engine.cli.main"}
    for module in COMMANDS.values():
        tree = ast.parse(Path(module.__file__).read_text())
        imported = {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        imported |= {
            f"{node.module}.{a.name}"
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
            for a in node.names
        }
        imported |= {
            a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names
        }
        assert not imported & (commands - {module.__name__}), module.__name__


def test_the_shared_table_aligns_columns_left_or_right():
    from engine.cli.common import table

    rows = [["name", "value", "note"], ["a", "1.5", "x"], ["long", "12.25", "yy"]]
    assert table(rows, left=(0, -1)) == ["name  value  note", "a       1.5  x", "long  12.25  yy"]
    assert table(rows, left=range(3)) == ["name  value  note", "a     1.5    x", "long  12.25  yy"]


def test_runs_lists_numbers_with_the_shared_formatter(capsys, tmp_path):
    from engine.core.numbers import fmt_number

    runs = tmp_path / "runs"
    assert main(["train", *QUICK, "--runs-dir", str(runs)]) == 0
    capsys.readouterr()
    code, out, _ = run_cli(capsys, "runs", "--runs-dir", str(runs))
    code_json, rows, _ = run_cli(capsys, "runs", "--json", "--runs-dir", str(runs))
    row = json.loads(rows)
    header, line = out.splitlines()
    cells = line.split()
    assert code == code_json == 0 and header.split() == [
        "id",
        "preset",
        "loss",
        "status",
        "epochs",
        "best",
        "r2",
        "age",
    ]
    assert row["status"] == "finished (completed)" and cells[3:5] == ["finished", "(completed)"]
    assert cells[5:8] == ["5", fmt_number(row["best_monitor"]), fmt_number(row["r2"])]


def test_a_value_that_starts_with_a_dash_gets_the_equals_form_hint(capsys):
    line = bad(capsys, "train", "--set", "-x")
    assert "--set: expected one argument" in line
    assert "written --set=VALUE" in line


def test_generated_serve_tokens_can_follow_the_option_as_they_are():
    from tui.serve import check_token, new_token

    # one in 64 raw tokens starts with "-", which argparse would read as an option
    tokens = [new_token() for _ in range(2000)]
    assert not any(t.startswith("-") for t in tokens)
    assert all(check_token(t, "t") == t for t in tokens)
    assert len(set(tokens)) == len(tokens)
