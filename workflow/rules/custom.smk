# Plug-in systems (config `custom_systems:`): a user's train()/predict() wrapped into jobs whose
# scores have the built-in layout, so thresholds, decoding, evaluation and tables take them as
# they are. The plug-in's parameters and a hash of its source are params: editing either reruns
# that system's jobs only.


rule train_custom:
    input:
        inputs=custom_inputs,
        groundtruth=f"{OUT}/groundtruth/{{source}}-train.parquet",
        split=f"{OUT}/splits/{{source}}.tsv",
        split_summary=f"{OUT}/splits/{{source}}.json",
    output:
        model=directory(f"{OUT}/models/{{run}}/{{source}}/model"),
        labels=f"{OUT}/models/{{run}}/{{source}}/labels.json",
        metrics=f"{OUT}/models/{{run}}/{{source}}/metrics.json",
    log:
        f"{OUT}/logs/train_custom/{{run}}/{{source}}.log",
    benchmark:
        f"{OUT}/benchmarks/train_custom/{{run}}/{{source}}.tsv"
    wildcard_constraints:
        run=CUSTOM_RUN,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_mb_from_input(3, 2000),
        runtime=240,
    params:
        code=step_code("custom"),
        name=lambda wildcards: parse_system(wildcards.run)["base"],
        module=custom_module,
        source_hash=custom_source_hash,
        plugin_params=custom_params_json,
        inputs=custom_input_args,
        seed=run_seed,
    shell:
        "$ABGD_PYTHON -m abgd.custom train --name {params.name} --module {params.module:q}"
        " --params {params.plugin_params:q} {params.inputs}"
        " --groundtruth {input.groundtruth} --split {input.split}"
        " --split-summary {input.split_summary} --seed {params.seed}"
        " --out-dir $(dirname {output.metrics}) > {log} 2>&1"


rule predict_custom:
    input:
        model=f"{OUT}/models/{{run}}/{{source}}/model",
        labels=f"{OUT}/models/{{run}}/{{source}}/labels.json",
        inputs=custom_inputs,
        groundtruth=predict_groundtruth,
        split=f"{OUT}/splits/{{source}}.tsv",
    output:
        f"{OUT}/scores/{{run}}/{{source}}-{{subset}}.parquet",
    log:
        f"{OUT}/logs/predict_custom/{{run}}/{{source}}-{{subset}}.log",
    benchmark:
        f"{OUT}/benchmarks/predict_custom/{{run}}/{{source}}-{{subset}}.tsv"
    wildcard_constraints:
        run=CUSTOM_RUN,
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_mb_from_input(1, 2000),
    params:
        code=step_code("custom"),
        name=lambda wildcards: parse_system(wildcards.run)["base"],
        module=custom_module,
        source_hash=custom_source_hash,
        plugin_params=custom_params_json,
        inputs=custom_input_args,
        part=predict_part_args,
    shell:
        "$ABGD_PYTHON -m abgd.custom predict --name {params.name} --module {params.module:q}"
        " --params {params.plugin_params:q} {params.inputs}"
        " --groundtruth {input.groundtruth} {params.part}"
        " --model-dir $(dirname {input.labels}) --out {output} > {log} 2>&1"
