"""The ``mlpose`` command line: parses arguments and delegates. No logic lives here."""
from __future__ import annotations

import sys

import click

from mlpose import __version__
from mlpose.registry import ConfigError

LAUNCHERS = click.Choice(["none", "pytorch", "slurm", "mpi"])
cfg_options_opt = click.option(
    "--cfg-options", multiple=True, metavar="KEY=VALUE", help=(
        "Override config keys, MMEngine syntax: a.b=1, list items as a.0.b=x, lists as key=a,b or "
        "key=\"[(a,b),(c,d)]\" (quoted, no spaces); true/false, None. Unknown keys are errors; "
        "prefix a key with + to add it on purpose. Repeatable; several pairs may follow one flag."),
)


def _options(values: tuple[str, ...]) -> list[str]:
    return [v for value in values for v in value.split()]


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mlpose")
def cli():
    """mlpose: train and test top-down heatmap pose estimators from config files, tracked in MLflow.

    CONFIG is a config file path or a short name from experiments/ (res50, res18, tiny, ...).
    Tracking goes to $MLFLOW_TRACKING_URI, else the config's tracking.uri, else sqlite:///mlflow.db.
    """


def _train_args(f):
    decorators = [
        click.option("--work-dir", type=click.Path(file_okay=False), help="Folder for logs and checkpoints (default: work_dirs/CONFIG_NAME)."),
        click.option("--resume", is_flag=False, flag_value="auto", default=None, metavar="[PATH]",
                     help="Resume: with no PATH, from the latest checkpoint in the work dir (fresh start if none); with PATH, from that file."),
        click.option("--amp", is_flag=True, help="Mixed precision: fp16 autocast + GradScaler on CUDA, bfloat16 autocast on CPU."),
        click.option("--no-validate", is_flag=True, help="Do not validate during training (not suggested)."),
        click.option("--auto-scale-lr", is_flag=True, help="Scale lr by (world size x batch size) / auto_scale_lr.base_batch_size."),
        cfg_options_opt,
        click.option("--show-dir", type=click.Path(file_okay=False), help="Save validation images with predicted (and GT) keypoints here (under the run's work dir if relative)."),
        click.option("--show", is_flag=True, help="Show validation results in a window (needs a display)."),
        click.option("--interval", type=int, default=1, show_default=True, help="Visualise every INTERVAL-th sample."),
        click.option("--wait-time", type=float, default=1.0, show_default=True, help="Seconds each --show window stays up."),
        click.option("--launcher", type=LAUNCHERS, default="none", show_default=True, help="Job launcher for distributed runs."),
        click.option("--experiment", help="MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, tracking.experiment, the config name)."),
        click.option("--local-rank", "--local_rank", "local_rank", type=int, default=None, hidden=True),
    ]
    for decorator in reversed(decorators):
        f = decorator(f)
    return f


@cli.command()
@click.argument("config")
@_train_args
def train(config, cfg_options, local_rank, **kwargs):
    """Train a model from CONFIG (tools/train.py does the same)."""
    from mlpose.engine.runner import TrainOptions, train as run_train

    run_train(config, TrainOptions(cfg_options=_options(cfg_options), command=sys.argv, **kwargs))


@cli.command()
@click.argument("run_id")
@cfg_options_opt
@click.option("--work-dir", type=click.Path(file_okay=False), help="Where to download the run and keep training (default: work_dirs/RUN_ID).")
@click.option("--launcher", type=LAUNCHERS, default="none", show_default=True)
@click.option("--local-rank", "--local_rank", "local_rank", type=int, default=None, hidden=True)
def resume(run_id, cfg_options, work_dir, launcher, local_rank):
    """Continue MLflow run RUN_ID from its logged checkpoint, in the same run.

    Works from any machine that reaches the tracking server, with an empty work dir.
    A finished run resumed with a larger train_cfg.max_epochs is extended.
    """
    from mlpose.engine.runner import resume_run

    resume_run(run_id, _options(cfg_options), work_dir=work_dir, launcher=launcher, command=sys.argv)


@cli.command()
@click.argument("config")
@click.argument("checkpoint")
@click.option("--work-dir", type=click.Path(file_okay=False), help="Folder for the test log and outputs.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write the metrics to this JSON file.")
@click.option("--dump", type=click.Path(dir_okay=False), help="Write every prediction to this file (for mlpose evaluate).")
@cfg_options_opt
@click.option("--show-dir", type=click.Path(file_okay=False), help="Save images with predicted keypoints here.")
@click.option("--show", is_flag=True, help="Show results in a window (needs a display).")
@click.option("--interval", type=int, default=1, show_default=True, help="Visualise every INTERVAL-th sample.")
@click.option("--wait-time", type=float, default=1.0, show_default=True, help="Seconds each --show window stays up.")
@click.option("--launcher", type=LAUNCHERS, default="none", show_default=True)
@click.option("--experiment", help="MLflow experiment for the test run.")
@click.option("--local-rank", "--local_rank", "local_rank", type=int, default=None, hidden=True)
def test(config, checkpoint, cfg_options, local_rank, **kwargs):
    """Test CHECKPOINT with CONFIG's test set and evaluator (tools/test.py does the same).

    CHECKPOINT is a path, an http(s) URL, or an MLflow URI: runs:/RUN_ID/checkpoints/best.pth,
    models:/NAME@ALIAS, mlflow-artifacts:/...
    """
    from mlpose.engine.runner import TestOptions, test as run_test

    run_test(config, checkpoint, TestOptions(cfg_options=_options(cfg_options), command=sys.argv, **kwargs))


@cli.command()
@click.argument("config")
@click.argument("predictions", type=click.Path(exists=True, dir_okay=False))
@cfg_options_opt
@click.option("--out", type=click.Path(dir_okay=False), help="Write the metrics to this JSON file.")
@click.option("--experiment", help="MLflow experiment for the evaluation run.")
def evaluate(config, predictions, cfg_options, out, experiment):
    """Run CONFIG's test evaluator on PREDICTIONS (a --dump file or a COCO keypoint results JSON), without the model."""
    from mlpose.engine.runner import evaluate_predictions

    evaluate_predictions(config, predictions, _options(cfg_options), out=out, experiment=experiment, command=sys.argv)


@cli.command()
@click.argument("config")
@click.option("--n-trials", type=int, help="Total trials of the study, over all workers (default: sweep.n_trials); rerunning with a larger number adds the difference.")
@click.option("--storage", help="Optuna storage URL (default: sweep.storage, else a journal file in work_dirs/sweeps/).")
@click.option("--study-name", help="Study name; the same name resumes/joins the study (default: sweep.study_name or the config name).")
@click.option("--workers", type=int, default=1, show_default=True, help="Worker processes on this machine sharing the study.")
@cfg_options_opt
@click.option("--experiment", help="MLflow experiment for the parent and trial runs.")
def sweep(config, n_trials, storage, study_name, workers, cfg_options, experiment):
    """Optuna study over CONFIG's `sweep` search space; each trial is an MLflow child run."""
    from mlpose.sweep import run_sweep

    run_sweep(config, cfg_options=_options(cfg_options), n_trials=n_trials, storage=storage,
              study_name=study_name, workers=workers, experiment=experiment)


@cli.group()
def config():
    """Inspect configs."""


@config.command("show")
@click.argument("config")
@cfg_options_opt
@click.option("--format", "fmt", type=click.Choice(["py", "json", "yaml"]), default="py", show_default=True)
def config_show(config, cfg_options, fmt):
    """Print CONFIG fully resolved (bases merged, overrides applied, validated)."""
    from mlpose.config import config_text, load_config

    click.echo(config_text(load_config(config, _options(cfg_options)), fmt), nl=False)


@cli.group()
def data():
    """Make datasets."""


@data.command("synth")
@click.argument("out", type=click.Path(file_okay=False))
@click.option("--num-train", type=int, default=200, show_default=True, help="Training images.")
@click.option("--num-val", type=int, default=50, show_default=True, help="Validation images.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--image-size", default="256x256", show_default=True, metavar="WxH")
@click.option("--difficulty", type=click.Choice(["normal", "easy", "simple"]), default="normal", show_default=True,
              help="normal: 1-5 people, frequent occlusion, border cuts, clutter; easy: the same kinds of "
                   "scene, rarer and milder; simple: 1-2 whole, unoccluded people facing the camera "
                   "(the demo's data).")
def data_synth(out, num_train, num_val, seed, image_size, difficulty):
    """Write a COCO-format keypoint dataset of rendered people (plus AIC twin and detections) to OUT."""
    from mlpose.datasets.synth import generate

    try:
        size = tuple(int(v) for v in image_size.lower().split("x"))
        assert len(size) == 2 and min(size) > 0
    except (ValueError, AssertionError):
        raise click.BadParameter(f"{image_size!r}: expected WxH, e.g. 256x256", param_hint="--image-size")
    generate(out, num_train=num_train, num_val=num_val, seed=seed, image_size=size, difficulty=difficulty)


@cli.command()
@click.option("--experiment", help="Experiment name (default: all).")
def runs(experiment):
    """List tracked runs: config, status, best metric, duration."""
    from mlpose.tracking.compare import print_runs

    print_runs(experiment)


@cli.command()
@click.argument("run_ids", nargs=-1, required=True)
@click.option("--out", type=click.Path(dir_okay=False), default="compare.png", show_default=True, help="Plot of the runs' curves.")
def compare(run_ids, out):
    """Print param differences and metric summaries of RUN_IDS and plot their curves."""
    from mlpose.tracking.compare import compare_runs

    click.echo(compare_runs(list(run_ids), out))


@cli.group()
def server():
    """A local MLflow tracking server (the team stack without Docker)."""


@server.command("start")
@click.option("--backend-store-uri", default="postgresql://postgres@127.0.0.1:5432/mlflow", show_default=True)
@click.option("--artifacts-dir", default="mlartifacts", show_default=True, type=click.Path(file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=int, default=5000, show_default=True)
@click.option("--auth", is_flag=True, help="Basic auth (admin password from $MLFLOW_ADMIN_PASSWORD).")
def server_start(**kwargs):
    """Run an MLflow server (1 worker, job execution off) until Ctrl-C, then stop its whole process tree."""
    from mlpose.stack.server import serve_forever

    serve_forever(**kwargs)


def spread_cfg_options(argv: list[str]) -> list[str]:
    """MMPose syntax ``--cfg-options a=1 b=2`` -> ``--cfg-options a=1 --cfg-options b=2`` for click."""
    out, taking = [], False
    for arg in argv:
        if arg == "--cfg-options":
            taking = True
            continue
        if taking and "=" in arg and not arg.startswith("-"):
            out += ["--cfg-options", arg]
            continue
        taking = False
        out.append(arg)
    return out


@server.command("stop")
@click.option("--port", type=int, default=5000, show_default=True)
def server_stop(port):
    """Stop the server started by `mlpose server start` on PORT, with its whole process tree."""
    from mlpose.stack.server import stop_server

    click.echo(f"stopped the server on port {port}" if stop_server(port=port) else f"no mlpose server recorded on port {port}")


def main(argv: list[str] | None = None) -> None:
    cli.main(args=spread_cfg_options(sys.argv[1:] if argv is None else list(argv)), prog_name="mlpose")


if __name__ == "__main__":
    main()
