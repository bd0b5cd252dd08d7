"""ganbench: train matched GANs in several frameworks, score every run, report verdicts.

    snakemake --cores 8 --resources gpu=2                         # the study (config/config.yaml)
    snakemake --cores 2 --configfile config/quick.yaml            # CPU-sized study
"""
import os
import sys

sys.path.insert(0, os.path.join(workflow.basedir, "workflow"))
sys.path.insert(0, workflow.basedir)

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

min_version("9.0")

if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


from ganbench.benchmark import shapes
from ganbench.config import ConfigError, check_against_impls, validate_config
from ganbench.grid import expand_runs
from ganbench.gpu_slots import resolve_gpu_count
from ganbench.impls import ContractError, discover_impls
from metrics.inception_weights import find_inception_weights
from ganbench.preflight import MissingEvaluator, NotWritable, check_evaluator, check_writable
from ganbench.stale_lock import clear_stale_locks, record_owner

# A snakemake killed earlier (SIGKILL, OOM, power loss) left its locks: clear them when their
# recorded owner is provably dead, so the same command simply resumes (ganbench/stale_lock.py).
if workflow.is_main_process and (_stale := clear_stale_locks()):
    print(_stale, file=sys.stderr)

REPO = workflow.basedir
# Jobs run `python` = the interpreter running Snakemake, and import the project's modules.
shell.prefix(
    f"set -euo pipefail; export PATH='{os.path.dirname(sys.executable)}':\"$PATH\"; "
    f"export PYTHONPATH='{REPO}/workflow:{REPO}'; "
)

try:
    validate_config(config)
    IMPLS = discover_impls(os.path.join(REPO, config.get("impls_dir") or "impls"))
    check_against_impls(config, IMPLS)
except (ConfigError, ContractError) as exc:
    raise WorkflowError(str(exc)) from None

if config["impls"] is None:
    config["impls"] = sorted(IMPLS)

STUDY = config["name"]
RUNS = expand_runs(config, config["impls"])
RUN_IDS = list(RUNS)
SHAPES = shapes(config, config["impls"]) if config["benchmark"]["enabled"] else []
RESULTS = f"results/{STUDY}"
RUN_DIR = f"{RESULTS}/runs/{{run_id}}"
DATA = f"results/data/{config['dataset']}.npz"
N_GPUS = resolve_gpu_count(config["gpus"], config["device"])
TRAIN_THREADS = config["threads"] or (2 if N_GPUS else 1)

wildcard_constraints:
    run_id="|".join(RUN_IDS) if RUN_IDS else "(?!)",
    shape="|".join(SHAPES) if SHAPES else "(?!)",


onstart:
    record_owner()  # this snakemake owns the working directory's locks (ganbench/stale_lock.py)
    # Not a dry run: the folders every job writes must be writable, and the network the dataset is
    # scored with (CelebA: Inception-v3, its weight file) must be there, before any job starts.
    try:
        check_writable([RESULTS, os.path.dirname(DATA), f"reports/{STUDY}"])
        check_evaluator(config["dataset"], config.get("inception_weights"))
    except (NotWritable, MissingEvaluator) as exc:
        raise WorkflowError(str(exc)) from None


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/benchmark.smk"
include: "workflow/rules/report.smk"


rule all:
    default_target: True
    input:
        f"reports/{STUDY}/index.html",
