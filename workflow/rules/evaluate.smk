# Inception-v3 (when its weights are present) runs on a claimed GPU; the dataset's own small
# network always runs on the CPU, so without Inception weights evaluation claims no GPU.
EVAL_GPUS = N_GPUS if find_inception_weights()[0] is not None else 0


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
        gpus=EVAL_GPUS,
    threads: 1
    resources:
        gpu=1 if EVAL_GPUS else 0,
    conda:
        "../../environment.yml"
    shell:
        "OMP_NUM_THREADS={threads} python -m metrics.evaluate --run-dir {params.run_dir} --gpus {params.gpus}"
        " --data {input.data} --cache-dir results/cache --out {output} > {log} 2>&1"
