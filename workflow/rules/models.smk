# Stages 4-6: four single-source MLPs, their embeddings, four fusion models, and their scores.


rule train_single:
    input:
        features=f"{OUT}/features/train.manifest.json",
        groundtruth=f"{OUT}/groundtruth/{{source}}-train.parquet",
        split=f"{OUT}/splits/{{source}}.tsv",
        split_summary=f"{OUT}/splits/{{source}}.json",
    output:
        **model_files("{run}", "{source}"),
    log:
        f"{OUT}/logs/train_single/{{run}}/{{source}}.log",
    benchmark:
        f"{OUT}/benchmarks/train_single/{{run}}/{{source}}.tsv"
    wildcard_constraints:
        run=r"single(-seed\d+)?",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=mem_mb_from_input(3, 2000),
        runtime=240,
        gpu=GPU,
    params:
        code=step_code("train_single"),
        flags=section_flags("single"),
        seed=run_seed,
    shell:
        "$ABGD_PYTHON -m abgd.train_single --features {input.features} --groundtruth {input.groundtruth}"
        " --split {input.split} --split-summary {input.split_summary}"
        " --out-dir $(dirname {output.ckpt}) --seed {params.seed} {params.flags}"
        " --threads {threads} > {log} 2>&1"


EMBED_SHELL = (
    "$ABGD_PYTHON -m abgd.embed --model-dir $(dirname {input.model}) --features {input.features}"
    " --groundtruth {input.groundtruth} --out {output} --threads {threads} > {log} 2>&1"
)


rule embed:
    input:
        model=single_model_for_embedding,
        features=feature_manifests(),
        groundtruth=all_groundtruth(),
    output:
        f"{OUT}/embeddings/{{model_source}}.parquet",
    log:
        f"{OUT}/logs/embed/{{model_source}}.log",
    benchmark:
        f"{OUT}/benchmarks/embed/{{model_source}}.tsv"
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=mem_mb_from_input(1, 2000),
        runtime=60,
    params:
        code=step_code("embed"),
    shell:
        EMBED_SHELL


use rule embed as embed_seed with:
    output:
        f"{OUT}/embeddings/seed{{seed}}/{{model_source}}.parquet",
    log:
        f"{OUT}/logs/embed/seed{{seed}}/{{model_source}}.log",
    benchmark:
        f"{OUT}/benchmarks/embed/seed{{seed}}/{{model_source}}.tsv"


rule train_fusion:
    input:
        embeddings=run_embeddings,
        groundtruth=f"{OUT}/groundtruth/{{source}}-train.parquet",
        split=f"{OUT}/splits/{{source}}.tsv",
        split_summary=f"{OUT}/splits/{{source}}.json",
    output:
        **model_files("{run}", "{source}"),
    log:
        f"{OUT}/logs/train_fusion/{{run}}/{{source}}.log",
    benchmark:
        f"{OUT}/benchmarks/train_fusion/{{run}}/{{source}}.tsv"
    wildcard_constraints:
        run=r"fusion(-seed\d+)?",
    conda:
        ENV
    threads: 2
    resources:
        mem_mb=mem_mb_from_input(3, 2000),
        runtime=120,
        gpu=GPU,
    params:
        code=step_code("train_fusion"),
        flags=section_flags("fusion"),
        seed=run_seed,
    shell:
        "$ABGD_PYTHON -m abgd.train_fusion --embeddings {input.embeddings}"
        " --groundtruth {input.groundtruth} --split {input.split}"
        " --split-summary {input.split_summary} --out-dir $(dirname {output.ckpt})"
        " --seed {params.seed} {params.flags} --threads {threads} > {log} 2>&1"


rule train_multitask:
    input:
        **multitask_inputs(),
    output:
        **model_files("{run}", "union"),
    log:
        f"{OUT}/logs/train_multitask/{{run}}.log",
    benchmark:
        f"{OUT}/benchmarks/train_multitask/{{run}}.tsv"
    wildcard_constraints:
        run=r"multitask(-seed\d+)?",
    conda:
        ENV
    threads: 2
    resources:
        # Peak ≤ 1.3 × the union's float32 features (benchmarks/bench_multitask.py, README).
        mem_mb=mem_mb_from_manifest(1.3, 2000),
        runtime=480,
        gpu=GPU,
    params:
        code=step_code("train_multitask"),
        sources=SOURCES,
        flags=section_flags("multitask", exclude=["enabled"]),
        seed=run_seed,
    shell:
        "$ABGD_PYTHON -m abgd.train_multitask --features {input.features} --sources {params.sources}"
        " --groundtruth {input.groundtruth} --split {input.split}"
        " --split-summary {input.split_summary} --out-dir $(dirname {output.ckpt})"
        " --seed {params.seed} {params.flags} --threads {threads} > {log} 2>&1"


rule predict:
    input:
        model=predict_model,
        inputs=predict_inputs,
        groundtruth=predict_groundtruth,
        split=f"{OUT}/splits/{{source}}.tsv",
    output:
        f"{OUT}/scores/{{run}}/{{source}}-{{subset}}.parquet",
    log:
        f"{OUT}/logs/predict/{{run}}/{{source}}-{{subset}}.log",
    benchmark:
        f"{OUT}/benchmarks/predict/{{run}}/{{source}}-{{subset}}.tsv"
    wildcard_constraints:
        run=r"(single|fusion|multitask)(-seed\d+)?",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=mem_mb_from_input(1, 2000),
    params:
        code=step_code("predict"),
        kind=predict_kind,
        inputs=predict_input_args,
        part=predict_part_args,
    shell:
        "$ABGD_PYTHON -m abgd.predict --model-dir $(dirname {input.model}) --kind {params.kind}"
        " {params.inputs} --groundtruth {input.groundtruth} {params.part}"
        " --out {output} --threads {threads} > {log} 2>&1"
