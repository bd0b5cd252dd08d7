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
