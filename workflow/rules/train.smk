rule spec:
    """The fully resolved run: every knob the impl needs (see impls/README.md)."""
    output:
        f"{RUN_DIR}/spec.json",
    log:
        f"{RESULTS}/logs/spec/{{run_id}}.log",
    # every planned run's spec first (instant): the progress line counts spec.json as "planned"
    priority: 100
    localrule: True
    conda:
        "../envs/ganbench.yaml"
    params:
        spec=lambda wildcards: RUNS[wildcards.run_id].spec,
    run:
        write_json(output[0], params.spec, log[0])


rule train:
    """One run in its impl's own process, on a claimed GPU (or the CPU)."""
    input:
        spec=f"{RUN_DIR}/spec.json",
        # ancient: a rebuilt (identical) dataset file retrains nothing; launch.py checks its arrays'
        # sha256 against their checksums before every run (--verify-data)
        data=ancient(DATA),
    output:
        samples=f"{RUN_DIR}/samples.npz",
        log_csv=f"{RUN_DIR}/log.csv",
        timing=f"{RUN_DIR}/timing.json",
        status=f"{RUN_DIR}/status.json",
        grid=f"{RUN_DIR}/grid.png",
    log:
        f"{RESULTS}/logs/train/{{run_id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{run_id}}.tsv"
    # every run not trained in a seed group (all of them on the CPU)
    wildcard_constraints:
        run_id=id_pattern(r for r in RUN_IDS if r not in GROUP_OF),
    conda:
        "../envs/ganbench.yaml"
    threads: train_threads
    resources:
        gpu=lambda wildcards: min(study_gpus(), 1),
    params:
        entry=lambda wildcards: IMPLS[RUNS[wildcards.run_id].spec["impl"]].entry,
        out=lambda wildcards, output: os.path.dirname(output.samples),
        gpus=study_gpus,
    shell:
        "python -m ganbench.launch --entry {params.entry:q} --spec {input.spec:q} --data {input.data:q}"
        " --out {params.out:q} --gpus {params.gpus} --threads {threads} --verify-data > {log:q} 2>&1"


# Seed groups (SEED_GROUPS, the Snakefile; ganbench/seed_groups.py): none on the CPU by default.
GROUP_DIR = f"{RESULTS}/groups/{{seed_group}}"


rule train_group:
    """Several seeds of one arm in one process (the impl's seed-group engine), on a claimed GPU: each run's outputs in groups/<group>/<run_id>/, its checkpoints where a single run keeps them."""
    input:
        specs=lambda wildcards: expand(
            f"{RUN_DIR}/spec.json", run_id=SEED_GROUPS[wildcards.seed_group].run_ids
        ),
        # ancient: as in rule train; launch.py checks the arrays' sha256 first (--verify-data)
        data=ancient(DATA),
    output:
        touch(f"{GROUP_DIR}/{DONE}"),
    log:
        f"{RESULTS}/logs/train_group/{{seed_group}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_group/{{seed_group}}.tsv"
    conda:
        "../envs/ganbench.yaml"
    threads: train_threads
    resources:
        gpu=lambda wildcards: min(study_gpus(), 1),
    params:
        entry=lambda wildcards: IMPLS[SEED_GROUPS[wildcards.seed_group].impl].dir,
        runs=lambda wildcards: shlex.join(
            group_args(SEED_GROUPS, wildcards.seed_group, RESULTS)
        ),
        gpus=study_gpus,
    shell:
        "python -m ganbench.launch --seed-group --entry {params.entry:q} --data {input.data:q} {params.runs}"
        " --gpus {params.gpus} --threads {threads} --verify-data > {log:q} 2>&1"


rule seed_group_run:
    """A run trained in a seed group: its files hard-linked from the group's folder into runs/<run_id>/, the layout of a run trained alone."""
    input:
        lambda wildcards: f"{RESULTS}/groups/{GROUP_OF[wildcards.run_id]}/{DONE}",
    output:
        samples=f"{RUN_DIR}/samples.npz",
        log_csv=f"{RUN_DIR}/log.csv",
        timing=f"{RUN_DIR}/timing.json",
        status=f"{RUN_DIR}/status.json",
        grid=f"{RUN_DIR}/grid.png",
    log:
        f"{RESULTS}/logs/seed_group_run/{{run_id}}.log",
    wildcard_constraints:
        run_id=id_pattern(GROUP_OF),
    localrule: True
    conda:
        "../envs/ganbench.yaml"
    params:
        trained=lambda wildcards, input: os.path.join(
            os.path.dirname(input[0]), wildcards.run_id
        ),
    run:
        link_run_outputs(params.trained, os.path.dirname(output.samples), log[0])
