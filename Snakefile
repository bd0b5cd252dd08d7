"""ganbench: train matched GANs in several frameworks, score every run, report verdicts.

snakemake --cores 8 --resources gpu=2                         # the study (config/config.yaml)
snakemake --cores 2 --configfile config/quick.yaml            # CPU-sized study
"""

import os
import shlex
import sys

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

try:
    import ganbench
except ImportError:
    raise WorkflowError(
        f"the project's package `ganbench` is not installed in this Python ({sys.executable}): "
        "run ./ganbench run (it sets up .venv), or `pip install -e .` in this environment"
    ) from None

if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


from ganbench.benchmark import shapes
from ganbench.config import (
    ConfigError,
    check_against_impls,
    check_runs,
    in_config_files,
    validate_config,
)
from ganbench.grid import expand_runs
from ganbench.impls import ContractError, discover_impls
from ganbench.metrics.inception_weights import find_inception_weights
from ganbench.preflight import (
    MissingEvaluator,
    NotWritable,
    check_evaluator,
    check_writable,
)
from ganbench.seed_groups import (
    DONE,
    SEED_GROUP_KEYS,
    group_args,
    group_of,
    grouping_active,
    id_pattern,
    link_run_outputs,
    study_groups,
)
from ganbench.stale_lock import (
    clear_stale_locks,
    live_owners,
    record_locks,
    take_ownership,
)
from ganbench import trainer_guard

REPO = workflow.basedir
# Jobs run `python` = the interpreter running Snakemake, where `./ganbench setup` installed the
# project's package (pyproject.toml). Its path is shell-quoted (a checkout under "my dir" or
# "$(...)" is data, never code) and its braces doubled (Snakemake formats the prefix).
# Under --use-conda the rule's environment (workflow/envs/ganbench.yaml, whose post-deploy script
# installs this checkout's package into it) provides `python`: the interpreter running Snakemake is
# then not put first on PATH.
_USE_CONDA = (
    "conda"
    in str(
        getattr(getattr(workflow, "deployment_settings", None), "deployment_method", "")
    ).lower()
)
_PATH = (
    ""
    if _USE_CONDA
    else f'export PATH={shlex.quote(os.path.dirname(sys.executable))}:"$PATH"; '
)
shell.prefix(f"set -euo pipefail; {_PATH}".replace("{", "{{").replace("}", "}}"))
os.environ.update(
    GANBENCH_REPO=REPO
)  # the checkout the conda post-deploy script installs
# A training job's launcher watches this snakemake and stops its trainer when it is gone (kill -9).
os.environ[trainer_guard.SNAKEMAKE_ENV] = trainer_guard.process_token()

_notes = []  # folders under impls_dir without a manifest: skipped
try:
    validate_config(config)
    IMPLS = discover_impls(
        os.path.join(REPO, config.get("impls_dir") or "impls"), _notes
    )
    check_against_impls(config, IMPLS)
except ConfigError as exc:
    raise WorkflowError(in_config_files(str(exc), workflow.configfiles)) from None
except ContractError as exc:
    raise WorkflowError(str(exc)) from None
if workflow.is_main_process:
    for _note in _notes:
        print(f"[ganbench] note: {_note}", file=sys.stderr)

if config["impls"] is None:
    config["impls"] = sorted(IMPLS)

STUDY = config["name"]
# This snakemake's owner lock (held for its life, before Snakemake locks anything); then the locks a
# killed snakemake left are cleared when their owner is provably dead, so the same command simply
# resumes; a live snakemake's locks, of any study, are never touched (ganbench/stale_lock.py).
if workflow.is_main_process:
    take_ownership(STUDY)
    if _stale := clear_stale_locks():
        print(_stale, file=sys.stderr)
    if _running := live_owners(STUDY):
        print(
            f"[ganbench] study {STUDY!r} is already being run here by snakemake pid "
            f"{', '.join(map(str, _running))}: a second run of it stops at Snakemake's lock check; "
            "wait for that one to finish, or stop it (kill <pid>) and run this command again",
            file=sys.stderr,
        )
RUNS = expand_runs(config, config["impls"])
RUN_IDS = list(RUNS)
SHAPES = shapes(config, config["impls"]) if config["benchmark"]["enabled"] else []
RESULTS = f"results/{STUDY}"
RUN_DIR = f"{RESULTS}/runs/{{run_id}}"
DATA = f"results/data/{config['dataset']}.npz"


include: "workflow/rules/common.smk"  # helpers the rules and the checks below use


PLAN = seed_plan(config)  # the seeds and the looks that add them (ganbench/looks.py)
N_GPUS = study_gpus()  # this host's view, for the checks below
# Every planned run checked now (at least one; its spec.json valid; batches that fit the dataset;
# a GPU for device: cuda), not in every train job.
try:
    check_runs(config, RUNS, N_GPUS, DATA)
except ConfigError as exc:
    raise WorkflowError(in_config_files(str(exc), workflow.configfiles)) from None
# Seed groups (ganbench/seed_groups.py): where the study groups seeds (seed_groups: auto = on
# CUDA), rule train_group trains up to seed_group_size seeds of an arm whose impl has a seed-group
# engine in one job; every other run keeps rule train. Finished runs keep the rule that trained them.
SEED_GROUPS = study_groups(
    RESULTS,
    RUNS,
    PLAN,
    config["seed_group_size"],
    [name for name, impl in IMPLS.items() if impl.seed_group],
    active=grouping_active(config["seed_groups"], config["device"], N_GPUS),
)
GROUP_OF = group_of(SEED_GROUPS)  # run id -> its group's id
# The run's wall-time limit (null: derived from its progress), read by the launcher
# (ganbench/trainer_guard.py); an environment variable, not a param, so changing it retrains nothing.
os.environ[trainer_guard.TIMEOUT_ENV] = (
    "" if config["train_timeout_min"] is None else str(config["train_timeout_min"])
)


wildcard_constraints:
    run_id="|".join(RUN_IDS) if RUN_IDS else "(?!)",
    shape="|".join(SHAPES) if SHAPES else "(?!)",
    look=r"\d+",
    seed_group=id_pattern(SEED_GROUPS),


onstart:
    # The Snakemake lock files this snakemake just wrote are its own (ganbench/stale_lock.py).
    record_locks(
        getattr(getattr(workflow, "persistence", None), "_lockfile", {}).values()
    )
    # At most N_GPUS jobs hold a GPU at once, whatever --resources gpu= says (local runs only:
    # a cluster's jobs get their GPUs from its scheduler).
    _scheduler = getattr(workflow, "scheduler", None)
    if (
        workflow.local_exec
        and _scheduler is not None
        and isinstance(getattr(_scheduler, "resources", None), dict)
    ):
        _given = _scheduler.resources.get("gpu")
        _n_gpus = study_gpus()
        if _given is None or _given > _n_gpus:
            if _given is not None and _given < sys.maxsize:
                print(
                    f"[ganbench] --resources gpu={_given} capped at {_n_gpus}: the GPUs jobs can use here "
                    "(nvidia-smi's count, capped by a preset CUDA_VISIBLE_DEVICES)",
                    file=sys.stderr,
                )
            _scheduler.resources["gpu"] = _n_gpus
            _scheduler.global_resources["gpu"] = _n_gpus
    # Not a dry run: the folders every job writes must be writable, and the network the dataset is
    # scored with (CelebA: Inception-v3, its weight file) must be there, before any job starts.
    try:
        check_writable([RESULTS, os.path.dirname(DATA), f"reports/{STUDY}"])
        check_evaluator(config["dataset"], config.get("inception_weights"))
    except (NotWritable, MissingEvaluator) as exc:
        raise WorkflowError(str(exc)) from None


report: "workflow/report/workflow.rst"


include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        f"reports/{STUDY}/index.html",
        interim_reports,
