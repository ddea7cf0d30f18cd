# Stages 7-8: thresholds fitted on the holdout, run files, baselines, the official metrics,
# summary tables and figures.


rule threshold:
    input:
        scores=f"{OUT}/scores/{{run}}/{{source}}-holdout.parquet",
        groundtruth=f"{OUT}/groundtruth/{{source}}-train.parquet",
    output:
        f"{OUT}/thresholds/{{run}}/{{source}}.json",
    log:
        f"{OUT}/logs/threshold/{{run}}/{{source}}.log",
    benchmark:
        f"{OUT}/benchmarks/threshold/{{run}}/{{source}}.tsv"
    conda:
        ENV
    params:
        code=step_code("threshold"),
    shell:
        "$ABGD_PYTHON -m abgd.threshold --scores {input.scores} --groundtruth {input.groundtruth}"
        " --out {output} > {log} 2>&1"


rule decode:
    input:
        scores=decode_scores,
        thresholds=decode_thresholds,
    output:
        f"{OUT}/runs/{{system}}/{{source}}-{{split}}.tsv",
    log:
        f"{OUT}/logs/decode/{{system}}/{{source}}-{{split}}.log",
    benchmark:
        f"{OUT}/benchmarks/decode/{{system}}/{{source}}-{{split}}.tsv"
    wildcard_constraints:
        system=TRAINED_RUN,
    conda:
        ENV
    params:
        code=step_code("decode"),
        decoding=decode_decoding,
        hierarchy=decode_hierarchy,
    shell:
        "$ABGD_PYTHON -m abgd.decode --scores {input.scores} --thresholds {input.thresholds}"
        " --decoding {params.decoding} --hierarchy {params.hierarchy} --out {output} > {log} 2>&1"


rule baseline:
    input:
        train=f"{OUT}/groundtruth/{{source}}-train.parquet",
        groundtruth=f"{OUT}/groundtruth/{{source}}-{{split}}.parquet",
    output:
        f"{OUT}/runs/{{system}}/{{source}}-{{split}}.tsv",
    log:
        f"{OUT}/logs/baseline/{{system}}/{{source}}-{{split}}.log",
    benchmark:
        f"{OUT}/benchmarks/baseline/{{system}}/{{source}}-{{split}}.tsv"
    wildcard_constraints:
        system=r"random(-seed\d+)?|popularity",
    conda:
        ENV
    params:
        code=step_code("baselines"),
        kind=baseline_kind,
        seed=baseline_seed,
    shell:
        "$ABGD_PYTHON -m abgd.baselines --train-groundtruth {input.train}"
        " --groundtruth {input.groundtruth} --kind {params.kind} --seed {params.seed}"
        " --out {output} > {log} 2>&1"


rule evaluate:
    input:
        groundtruth=f"{OUT}/groundtruth/{{source}}-{{split}}.parquet",
        run=f"{OUT}/runs/{{system}}/{{source}}-{{split}}.tsv",
        scores=scores_for_evaluation,
    output:
        json=f"{OUT}/evaluation/{{system}}/{{source}}-{{split}}.json",
        summary=f"{OUT}/evaluation/{{system}}/{{source}}-{{split}}.results_summary",
    log:
        f"{OUT}/logs/evaluate/{{system}}/{{source}}-{{split}}.log",
    benchmark:
        f"{OUT}/benchmarks/evaluate/{{system}}/{{source}}-{{split}}.tsv"
    conda:
        ENV
    resources:
        mem_mb=mem_mb_from_input(4, 1000),
    params:
        code=step_code("evaluate"),
        scores=scores_arg,
        names=evaluation_args,
    shell:
        "$ABGD_PYTHON -m abgd.evaluate --groundtruth {input.groundtruth} --run {input.run}"
        " {params.scores} {params.names} --source {wildcards.source}"
        " --split {wildcards.split} --out {output.json}"
        " --summary-text {output.summary}"
        " > {log} 2>&1"


rule summarize:
    input:
        all_evaluations,
    output:
        json=f"{OUT}/evaluation/summary.json",
        csv=report(
            f"{OUT}/evaluation/summary.csv",
            caption="../report/summary.rst",
            category="2. Results",
            labels={"table": "all metrics"},
        ),
        markdown=report(
            f"{OUT}/evaluation/tables.md",
            caption="../report/tables.rst",
            category="2. Results",
            labels={"table": "Tables 4-5"},
        ),
    log:
        f"{OUT}/logs/summarize/summarize.log",
    localrule: True
    conda:
        ENV
    params:
        code=step_code("summarize"),
        split=EVAL_SPLIT,
        dataset=DATASET,
    shell:
        "$ABGD_PYTHON -m abgd.summarize --evaluations {input} --split {params.split}"
        " --dataset {params.dataset}"
        " --out-json {output.json} --out-csv {output.csv} --out-md {output.markdown} > {log} 2>&1"


rule figures:
    input:
        epochs=[
            model_files(system, source)["epochs"]
            for system in ["single", "fusion"]
            for source in SOURCES
        ]
        + [model_files(system, "union")["epochs"] for system in MULTITASK],
        scores=[
            f"{OUT}/scores/{system}/{source}-{EVAL_SPLIT}.parquet"
            for system in TRAINED
            for source in SOURCES
        ],
        groundtruth=[f"{OUT}/groundtruth/{source}-{EVAL_SPLIT}.parquet" for source in SOURCES],
        thresholds=[
            f"{OUT}/thresholds/{system}/{source}.json" for system in TRAINED for source in SOURCES
        ],
    output:
        curves=report(
            f"{OUT}/figures/training_curves.png",
            caption="../report/training_curves.rst",
            category="3. Figures",
        ),
        roc=report(
            f"{OUT}/figures/roc_curves.png",
            caption="../report/roc_curves.rst",
            category="3. Figures",
        ),
        label_f=report(
            f"{OUT}/figures/label_f_vs_frequency.png",
            caption="../report/label_f.rst",
            category="3. Figures",
        ),
        thresholds=report(
            f"{OUT}/figures/threshold_distribution.png",
            caption="../report/thresholds.rst",
            category="3. Figures",
        ),
    log:
        f"{OUT}/logs/figures/figures.log",
    localrule: True
    conda:
        ENV
    params:
        code=step_code("figures"),
        sources=SOURCES,
        systems=TRAINED,
    shell:
        "$ABGD_PYTHON -m abgd.figures --epochs {input.epochs} --scores {input.scores}"
        " --groundtruth {input.groundtruth} --thresholds {input.thresholds}"
        " --sources {params.sources} --systems {params.systems}"
        " --out-dir $(dirname {output.curves}) > {log} 2>&1"
