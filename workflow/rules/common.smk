from ganbench.gpu_slots import CLUSTER_ENV, study_gpu_count
from ganbench.jsonfile import write_json
from ganbench.looks import look_runs, read_interim, seed_plan


def all_cores(wildcards):
    """Every core of the run (the benchmark runs alone); 1 where none is set (snakemake --report)."""
    try:
        return workflow.cores
    except WorkflowError:
        return 1


# The one GPU count (the ganbench script's too). Where jobs run is known only once the DAG is
# built (a cluster executor: the login node's GPUs are not the nodes'; a cluster job: its
# submitter's count), so rules read it through study_gpus(), which is evaluated per job.
_GPUS_KNOWN = []


def study_gpus(*_):
    if _GPUS_KNOWN:
        return _GPUS_KNOWN[0]
    n = study_gpu_count(
        config["gpus"],
        config["device"],
        local_exec=workflow.local_exec,
        remote_exec=workflow.remote_exec,
    )
    # Once the executor is known, the count is fixed for this snakemake.
    if workflow.executor_plugin is not None:
        _GPUS_KNOWN.append(n)
        if not workflow.local_exec:
            os.environ[CLUSTER_ENV] = str(n)  # sbatch --export=ALL hands it to the jobs
    return n


def train_threads(*_):
    return config["threads"] or (2 if study_gpus() else 1)


# Inception-v3 scores CelebA (its weights are required: the Snakefile's onstart stops the study
# without them) and adds FID/IS to the MNIST family when its weights are present; it runs on a
# claimed GPU. The MNIST family's own small network always runs on the CPU, so without
# Inception weights evaluation claims no GPU.
INCEPTION_WEIGHTS = config.get(
    "inception_weights"
)  # null: the job looks in $GANBENCH_INCEPTION_WEIGHTS, the hub
HAS_INCEPTION = find_inception_weights(INCEPTION_WEIGHTS)[0] is not None


def eval_gpus(*_):
    return study_gpus() if HAS_INCEPTION else 0


# The sequential seed design (ganbench/looks.py): each look's runs depend on the interim
# analyses (checkpoint interim) of the looks before it.
def open_after(look):
    """{j: the claims open after look j} for the looks before ``look``."""
    return {
        j: set(read_interim(checkpoints.interim.get(look=j).output[0])["open"])
        for j in range(1, look)
    }


def look_run_ids(wildcards):
    look = int(wildcards.look)
    return look_runs(RUNS, PLAN, look, open_after(look))


def final_look():
    """The look the study stops at: the first with no claim open, else the cap."""
    for look in range(1, len(PLAN.looks) + 1):
        if read_interim(checkpoints.interim.get(look=look).output[0])["final"]:
            return look
    return len(PLAN.looks)


def interim_reports(wildcards):
    """The interim report of every look before the last one the study reaches."""
    return [
        f"reports/{STUDY}/looks/{look}/index.html" for look in range(1, final_look())
    ]
