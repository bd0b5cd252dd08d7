rule evaluate:
    """Score a run's samples and learning-curve samples with the shared evaluator (metrics/); a diverged run gets no quality score."""
    input:
        samples=f"{RUN_DIR}/samples.npz",
        spec=f"{RUN_DIR}/spec.json",
        status=f"{RUN_DIR}/status.json",
        data=DATA,
    output:
        f"{RUN_DIR}/metrics.json",
    log:
        f"{RESULTS}/logs/evaluate/{{run_id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{run_id}}.tsv"
    params:
        run_dir=lambda wildcards, input: os.path.dirname(input.samples),
    threads: 1
    conda:
        "../../environment.yml"
    shell:
        "CUDA_VISIBLE_DEVICES= OMP_NUM_THREADS={threads} python -m metrics.evaluate --run-dir {params.run_dir}"
        " --data {input.data} --cache-dir results/cache --out {output} > {log} 2>&1"
