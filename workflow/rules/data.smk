rule dataset:
    """Decode the configured dataset (mnist / fashion_mnist) from its source, verify its checksums,
    write uint8 NHWC arrays to results/data/<dataset>.npz."""
    output:
        DATA,
    log:
        f"results/logs/dataset_{config['dataset']}.log",
    params:
        dataset=config["dataset"],
        idx_dir=(
            f"--idx-dir {config['data'][config['dataset'] + '_idx_dir']}"
            if config["data"].get(config["dataset"] + "_idx_dir")
            else ""
        ),
    conda:
        "../../environment.yml"
    shell:
        # On failure the builder's one-line error (e.g. "apt-get install dataset-fashion-mnist")
        # is shown in snakemake's own output, not only in the log.
        "python -m ganbench.data --dataset {params.dataset} {params.idx_dir} --out {output} > {log} 2>&1"
        " || {{ cat {log} >&2; exit 1; }}"


rule resolved_config:
    """The validated config with every default filled in; the aggregate and report read it."""
    output:
        f"{RESULTS}/config.json",
    params:
        config=config,
    localrule: True
    run:
        import json

        with open(output[0], "w") as fh:
            json.dump(params.config, fh, indent=2, sort_keys=True)
