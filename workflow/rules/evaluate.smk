import shlex

# Inception-v3 scores CelebA (its weights are required: the Snakefile's onstart stops the study
# without them) and adds FID/IS to the MNIST family when its weights are present; it runs on a
# claimed GPU. The MNIST family's own small network always runs on the CPU, so without
# Inception weights evaluation claims no GPU.
INCEPTION_WEIGHTS = config.get(
    "inception_weights"
)  # null: the job looks in $GANBENCH_INCEPTION_WEIGHTS, the hub
EVAL_GPUS = N_GPUS if find_inception_weights(INCEPTION_WEIGHTS)[0] is not None else 0


rule evaluate:
    """Score a run's samples and learning-curve samples with the shared evaluator (metrics/); a diverged run gets no quality score."""
    input:
        samples=f"{RUN_DIR}/samples.npz",
        spec=f"{RUN_DIR}/spec.json",
        status=f"{RUN_DIR}/status.json",
        data=ancient(DATA),  # a rebuilt identical dataset rescores nothing; its test split is checked first
    output:
        f"{RUN_DIR}/metrics.json",
    log:
        f"{RESULTS}/logs/evaluate/{{run_id}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate/{{run_id}}.tsv"
    conda:
        "../envs/ganbench.yaml"
    threads: 1
    resources:
        gpu=1 if EVAL_GPUS else 0,
    params:
        run_dir=lambda wildcards, input: os.path.dirname(input.samples),
        gpus=EVAL_GPUS,
        inception=(
            f"--inception-weights {shlex.quote(str(INCEPTION_WEIGHTS))}"
            if INCEPTION_WEIGHTS
            else ""
        ),
        dataset=config["dataset"],
    shell:
        "{{ python -m ganbench.data --dataset {params.dataset:q} --out {input.data:q} --verify test_images"
        " && OMP_NUM_THREADS={threads} python -m metrics.evaluate --run-dir {params.run_dir:q} --gpus {params.gpus}"
        " {params.inception} --data {input.data:q} --cache-dir results/cache --out {output:q}; }} > {log:q} 2>&1"
