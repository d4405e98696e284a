"""The ``mlpose`` command line: parses arguments and delegates. No logic lives here."""
from __future__ import annotations

import sys

import click

from mlpose import __version__
from mlpose.config.options import spread_cfg_options
from mlpose.errors import ConfigError

LAUNCHERS = click.Choice(["none", "pytorch", "slurm", "mpi"])
cfg_options_opt = click.option(
    "--cfg-options", multiple=True, metavar="KEY=VALUE", help=(
        "Override config keys, MMEngine syntax: a.b=1, list items as a.0.b=x, lists as key=a,b or "
        "key=\"[(a,b), (c,d)]\" (quoted); true/false, None. Quotes that reach mlpose keep a string whole "
        "(\"data_root='/data/a,b/'\"); spaces in a value are kept. Unknown keys are errors; "
        "prefix a key with + to add it on purpose. Repeatable; several pairs may follow one flag."),
)


strict_opt = click.option("--strict", is_flag=True, help=(
    "A top-level config name that looks like a misspelt section (trian_cfg) is an error, not a warning "
    "(as strict_config=True in the config)."))


def _options(values: tuple[str, ...]) -> list[str]:
    from mlpose.config.options import split_options

    return [v for value in values for v in split_options(value)]


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
    """mlpose: train and test top-down pose estimators from config files, tracked in MLflow.

    Heatmap and SimCC models (SimpleBaseline, HRNet, ViTPose, RTMPose, ...), MMPose's own config
    files and checkpoints as they are. CONFIG is a config file path or a short name from
    experiments/ (res50, hrnet-w32, vitpose-b, rtmpose-m, tiny, ...; `mlpose zoo` lists them).
    Tracking goes to $MLFLOW_TRACKING_URI, else the config's tracking.uri, else sqlite:///mlflow.db.
    """


def _train_args(f):
    decorators = [
        click.option("--work-dir", type=click.Path(file_okay=False), help="Folder for logs and checkpoints (default: work_dirs/CONFIG_NAME)."),
        click.option("--resume", is_flag=False, flag_value="auto", default=None, metavar="[PATH]",
                     help="Resume: with no PATH, from the latest checkpoint in the work dir (fresh start if none); with PATH, from that file."),
        click.option("--amp", is_flag=True, help="Mixed precision: fp16 autocast + GradScaler on CUDA, bfloat16 autocast on CPU."),
        click.option("--no-validate", is_flag=True, help="Do not validate during training (not suggested)."),
        click.option("--auto-scale-lr", is_flag=True, help="Scale lr by (world size x batch size) / auto_scale_lr.base_batch_size (as auto_scale_lr.enable=True in the config)."),
        cfg_options_opt,
        click.option("--show-dir", type=click.Path(file_okay=False), help="Save validation images with predicted (and GT) keypoints here (under the run's work dir if relative)."),
        click.option("--show", is_flag=True, help="Show validation results in a window (needs a display)."),
        click.option("--interval", type=int, default=1, show_default=True, help="Visualise every INTERVAL-th sample."),
        click.option("--wait-time", type=float, default=1.0, show_default=True, help="Seconds each --show window stays up."),
        click.option("--launcher", type=LAUNCHERS, default="none", show_default=True, help="Job launcher for distributed runs."),
        click.option("--experiment", help="MLflow experiment (default: $MLFLOW_EXPERIMENT_NAME, tracking.experiment, the config name)."),
        strict_opt,
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
    from mlpose.engine.jobs import TrainOptions, train as run_train

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
    from mlpose.engine.jobs import resume_run

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
@strict_opt
@click.option("--local-rank", "--local_rank", "local_rank", type=int, default=None, hidden=True)
def test(config, checkpoint, cfg_options, local_rank, **kwargs):
    """Test CHECKPOINT with CONFIG's test set and evaluator (tools/test.py does the same).

    CHECKPOINT is a path, an http(s) URL, or an MLflow URI: runs:/RUN_ID/checkpoints/best.pth,
    models:/NAME@ALIAS, mlflow-artifacts:/... mlpose's checkpoints and MMPose's model-zoo files
    (published or MMEngine training checkpoints) both work; URLs are cached in torch's hub cache.
    """
    from mlpose.engine.jobs import TestOptions, test as run_test

    run_test(config, checkpoint, TestOptions(cfg_options=_options(cfg_options), command=sys.argv, **kwargs))


@cli.command()
@click.argument("first", metavar="CONFIG PREDICTIONS | PREDICTIONS")
@click.argument("second", required=False, metavar="[CONFIG]")
@click.option("--ann-file", type=click.Path(exists=True, dir_okay=False), help=(
    "Evaluate against this COCO keypoint annotation file (GT boxes; no image folder or detections file "
    "needed): `mlpose evaluate PREDICTIONS --ann-file GT.json [CONFIG]`, CONFIG defaulting to res50's "
    "evaluator (the run then goes to the experiment `evaluate`)."))
@cfg_options_opt
@click.option("--out", type=click.Path(dir_okay=False), help="Write the metrics to this JSON file.")
@click.option("--experiment", help="MLflow experiment for the evaluation run.")
def evaluate(first, second, ann_file, cfg_options, out, experiment):
    """Run CONFIG's test evaluator on PREDICTIONS (a --dump file or a COCO keypoint results JSON), without the model.

    `mlpose evaluate CONFIG PREDICTIONS`, or with --ann-file: `mlpose evaluate PREDICTIONS --ann-file GT.json [CONFIG]`.
    """
    from mlpose.engine.jobs import evaluate_predictions

    if ann_file:
        predictions, config = first, second  # no CONFIG: res50's evaluator, experiment `evaluate`
    elif second is None:
        raise click.UsageError("expected CONFIG PREDICTIONS, or PREDICTIONS --ann-file GT.json [CONFIG]")
    else:
        config, predictions = first, second
    evaluate_predictions(config, predictions, _options(cfg_options), out=out, experiment=experiment,
                         command=sys.argv, ann_file=ann_file)


MODEL_HELP = ("The model: a checkpoint path or URL, runs:/RUN_ID/checkpoints/best.pth, models:/NAME@ALIAS "
              "or models:/m-ID (MLflow's tracking URI: $MLFLOW_TRACKING_URI, else sqlite:///mlflow.db).")
model_config_opt = click.option("--config", help="Build the model from this config instead of the one the checkpoint "
                                "carries (needed for MMPose's files, which carry none).")


@cli.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--model", "-m", required=True, help=MODEL_HELP)
@click.option("--boxes", type=click.Path(dir_okay=False), help="Person boxes: a COCO-results detections JSON "
              "([{image_id or file_name, bbox: [x, y, w, h], score}, ...]), matched to an input by file_name "
              "(a video frame's is clip.mp4#000012), else by image_id (see IMAGE IDS below).")
@click.option("--whole-image", is_flag=True, help="The whole image is one person box (the default without --boxes).")
@click.option("--bbox-thr", type=float, default=0.3, show_default=True, help="Ignore boxes scoring below this.")
@click.option("--out", type=click.Path(dir_okay=False), help="Write COCO keypoint results here (what `mlpose evaluate` "
              "reads); default: print them.")
@click.option("--vis-dir", type=click.Path(file_okay=False), help="Save each image with boxes and skeletons here.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Person crops per forward pass.")
@click.option("--every", type=int, default=1, show_default=True, help="Use every N-th frame of a video.")
@click.option("--amp", is_flag=True, help="bfloat16 autocast (faster on recent CPUs and on GPUs).")
@model_config_opt
@cfg_options_opt
def infer(inputs, model, cfg_options, **kwargs):
    """Predict the poses of the people in INPUT images, folders of images or video files.

    No person detector is bundled (none can be downloaded here): the boxes come from --boxes, a
    detections file made by any detector (e.g. MMDetection's COCO results), or each image is one
    box. Flip test and every other test setting follow the model's config.

    \b
    IMAGE IDS (the results' image_id) are unique within one call: an image whose
    file name is a number keeps it (COCO's 000000397133.jpg is 397133); a video
    that is the only input numbers its frames 0, 1, ...; every other image or
    frame gets the smallest number from 1 up that no input of the call has.

    \b
    Bad inputs (unreadable or empty images, boxes outside the image) are skipped
    with one line each and the rest is predicted. Exit status: 0 all predicted,
    3 results written but something was skipped, 2 an error (no results).
    Outputs never replace an input or a file of a tracking store.
    """
    from mlpose.engine.predict import InferOptions, infer as run_infer

    done = run_infer(list(inputs), model, InferOptions(cfg_options=_options(cfg_options), **kwargs))
    click.echo(done["summary"], err=True)
    sys.exit(done["exit_code"])


@cli.command()
@click.argument("model")
@click.option("--format", "fmt", type=click.Choice(["onnx", "torchscript"]), required=True)
@click.option("--out", type=click.Path(dir_okay=False), required=True, help="The file to write (.onnx, .pt); "
              "never the model's own file, a hard-linked one or one in a tracking store.")
@model_config_opt
@cfg_options_opt
def export(model, fmt, out, config, cfg_options):
    """Export MODEL's network (uint8 BGR crops -> the head's outputs, dynamic batch) as ONNX or TorchScript.

    MODEL is a checkpoint path or URL, runs:/..., models:/NAME@ALIAS or models:/m-ID. The file is
    checked right away: run on real crops at batch sizes 1 and 3, its outputs (heatmaps, or SimCC
    x/y vectors) must match the eager model's within 1e-4; a file that fails is not written (what was at --out stays as it was).
    """
    from mlpose.engine.predict import export as run_export

    click.echo(run_export(model, fmt, out, config, _options(cfg_options)).summary())


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


@cli.group(invoke_without_command=True)
@click.pass_context
def zoo(ctx):
    """The recipes of experiments/ (or, with `check`, whether config files run).

    Without a subcommand: each recipe's short name, backbone, head, codec, input size, parameters,
    GFLOPs (multiply-adds of one crop, as MMPose's tables count them) and the COCO AP MMPose
    publishes for the config the recipe mirrors (same file name). Measures are cached.
    """
    if ctx.invoked_subcommand is None:
        from mlpose.zoo import zoo_table

        click.echo(zoo_table())


@zoo.command("check")
@click.argument("configs", nargs=-1, required=True, metavar="CONFIG...")
@click.option("--train", is_flag=True, help="Also train each one iteration on generated data (batch 2, no "
              "workers, tracking, validation, checkpoint or pretrained weights).")
@click.option("--data", type=click.Path(exists=True, file_okay=False), help="The generated data for --train "
              "(a `mlpose data synth` folder; default: a small one made for the run).")
def zoo_check(configs, train, data):
    """Whether each CONFIG loads, builds its model, runs one forward pass (batch 1, its input size)
    and, with --train, trains one iteration: a table, then one line per failure (the missing
    component or refused key). Pretrained weights (init_cfg) are not loaded. CONFIG: files, folders
    (every *.py below but _base_), globs, short names. Exits 1 when any file failed."""
    from mlpose.zoo import run_check

    sys.exit(run_check(configs, train, data, echo=click.echo))


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
@click.option("--coco-size", is_flag=True,
              help="Also write annotation and detection files with COCO 2017's counts (150k train people, "
                   "6,352 val people, 104k val detections) whose images re-use the rendered ones.")
@click.option("--overwrite", is_flag=True, help="OUT may already hold a dataset: replace its annotation files and "
              "the images of the same names (without it, such an OUT is refused).")
def data_synth(out, num_train, num_val, seed, image_size, difficulty, coco_size, overwrite):
    """Write a COCO-format keypoint dataset of rendered people (plus AIC twin and detections) to OUT.

    An OUT that already holds a dataset is refused unless --overwrite.
    """
    from mlpose.datasets.synth import generate
    from mlpose.datasets.synth.coco_size import write_coco_size

    try:
        size = tuple(int(v) for v in image_size.lower().split("x"))
        assert len(size) == 2 and min(size) > 0
    except (ValueError, AssertionError):
        raise click.BadParameter(f"{image_size!r}: expected WxH, e.g. 256x256", param_hint="--image-size")
    if coco_size:
        import json

        click.echo(json.dumps(write_coco_size(out, num_train=num_train, num_val=num_val, seed=seed,
                                              image_size=size, difficulty=difficulty, overwrite=overwrite)))
    else:
        from mlpose.datasets.synth.report import summary_lines

        summary = generate(out, num_train=num_train, num_val=num_val, seed=seed, image_size=size, difficulty=difficulty,
                           overwrite=overwrite)
        click.echo("\n".join(summary_lines(summary)))


@cli.command()
@click.argument("work_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--tracking-uri", help="Where the runs are (default: $MLFLOW_TRACKING_URI, else the URI the job used).")
def sync(work_dir, tracking_uri):
    """Send what jobs in WORK_DIR could not send to MLflow (the tracking server was away when
    they ended) and end their runs with the status they ended with. Train and resume in that
    work dir do the same before they start."""
    from mlpose.tracking.sync import sync_dir

    done = sync_dir(work_dir, tracking_uri)
    click.echo("\n".join(s.line() for s in done) or f"nothing pending in {work_dir}")


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
