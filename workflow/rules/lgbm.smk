# Beyond the paper: gradient boosting (one binary LightGBM model per label), trained in label
# chunks that are separate jobs so a cluster spreads them, then reassembled into one score file.


rule train_lgbm:
    input:
        inputs=lgbm_inputs,
        groundtruth=f"{OUT}/groundtruth/{{source}}-train.parquet",
        validation=f"{OUT}/groundtruth/{{source}}-validation.parquet",
        split=f"{OUT}/splits/{{source}}.tsv",
        split_summary=f"{OUT}/splits/{{source}}.json",
    output:
        holdout=f"{OUT}/scores/{{run}}/chunks/{{source}}-{{chunk}}-holdout.parquet",
        validation=f"{OUT}/scores/{{run}}/chunks/{{source}}-{{chunk}}-validation.parquet",
    log:
        f"{OUT}/logs/train_lgbm/{{run}}/{{source}}-{{chunk}}.log",
    benchmark:
        f"{OUT}/benchmarks/train_lgbm/{{run}}/{{source}}-{{chunk}}.tsv"
    wildcard_constraints:
        run=r"lgbm_(single|fusion)(-seed\d+)?",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=mem_mb_from_input(3, 2000),
        runtime=240,
    params:
        code=step_code("train_lgbm"),
        inputs=lgbm_input_args,
        chunks=config["lgbm"]["chunks"],
        seed=run_seed,
        # systems and chunks shape the DAG; chunks is passed with the chunk's number
        flags=section_flags("lgbm", exclude=["systems", "chunks"]),
    shell:
        "OMP_WAIT_POLICY=PASSIVE $ABGD_PYTHON -m abgd.train_lgbm {params.inputs} --groundtruth {input.groundtruth}"
        " --validation-groundtruth {input.validation} --split {input.split}"
        " --split-summary {input.split_summary} --chunk {wildcards.chunk}"
        " --chunks {params.chunks} --out-holdout {output.holdout}"
        " --out-validation {output.validation} --seed {params.seed} --threads {threads}"
        " {params.flags} > {log} 2>&1"


rule merge_lgbm_scores:
    input:
        parts=lgbm_chunks_of_subset,
        labels=f"{OUT}/splits/{{source}}.json",
    output:
        f"{OUT}/scores/{{run}}/{{source}}-{{subset}}.parquet",
    log:
        f"{OUT}/logs/merge_lgbm_scores/{{run}}/{{source}}-{{subset}}.log",
    benchmark:
        f"{OUT}/benchmarks/merge_lgbm_scores/{{run}}/{{source}}-{{subset}}.tsv"
    wildcard_constraints:
        run=r"lgbm_(single|fusion)(-seed\d+)?",
    conda:
        ENV
    params:
        code=step_code("merge_scores"),
    shell:
        "$ABGD_PYTHON -m abgd.merge_scores --parts {input.parts} --labels {input.labels}"
        " --out {output} > {log} 2>&1"
