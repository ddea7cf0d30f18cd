# Stages 4-6: four single-source MLPs, their embeddings, four fusion models, and their scores.


rule train_single:
    input:
        features=f"{OUT}/features/train.manifest.json",
        groundtruth=f"{OUT}/groundtruth/{{source}}-train.parquet",
        split=f"{OUT}/splits/{{source}}.tsv",
        split_summary=f"{OUT}/splits/{{source}}.json",
    output:
        **model_files("single", "{source}"),
    params:
        hidden=config["single"]["hidden"],
        input_dropout=config["single"]["input_dropout"],
        dropout=config["single"]["dropout"],
        lr=config["single"]["lr"],
        batch_size=config["single"]["batch_size"],
        max_epochs=config["single"]["max_epochs"],
        patience=config["single"]["patience"],
        seed=config["single"]["seed"],
    log:
        f"{OUT}/logs/train_single/{{source}}.log",
    benchmark:
        f"{OUT}/benchmarks/train_single/{{source}}.tsv"
    threads: 2
    resources:
        mem_mb=mem_mb_from_input(3, 2000),
        runtime=240,
        gpu=GPU,
    conda:
        ENV
    shell:
        "python -m abgd.train_single --features {input.features} --groundtruth {input.groundtruth}"
        " --split {input.split} --split-summary {input.split_summary}"
        " --out-dir $(dirname {output.ckpt}) --seed {params.seed} --hidden {params.hidden}"
        " --input-dropout {params.input_dropout} --dropout {params.dropout} --lr {params.lr}"
        " --batch-size {params.batch_size} --max-epochs {params.max_epochs}"
        " --patience {params.patience} --threads {threads} > {log} 2>&1"


rule embed:
    input:
        model=f"{OUT}/models/single/{{model_source}}/model.ckpt",
        features=feature_manifests(),
        groundtruth=all_groundtruth(),
    output:
        f"{OUT}/embeddings/{{model_source}}.parquet",
    log:
        f"{OUT}/logs/embed/{{model_source}}.log",
    benchmark:
        f"{OUT}/benchmarks/embed/{{model_source}}.tsv"
    threads: 2
    resources:
        mem_mb=mem_mb_from_input(1, 2000),
        runtime=60,
        gpu=GPU,
    conda:
        ENV
    shell:
        "python -m abgd.embed --model-dir $(dirname {input.model}) --features {input.features}"
        " --groundtruth {input.groundtruth} --out {output} --threads {threads} > {log} 2>&1"


rule train_fusion:
    input:
        embeddings=embeddings(),
        groundtruth=f"{OUT}/groundtruth/{{source}}-train.parquet",
        split=f"{OUT}/splits/{{source}}.tsv",
        split_summary=f"{OUT}/splits/{{source}}.json",
    output:
        **model_files("fusion", "{source}"),
    params:
        dropout=config["fusion"]["dropout"],
        lr=config["fusion"]["lr"],
        batch_size=config["fusion"]["batch_size"],
        max_epochs=config["fusion"]["max_epochs"],
        patience=config["fusion"]["patience"],
        seed=config["fusion"]["seed"],
    log:
        f"{OUT}/logs/train_fusion/{{source}}.log",
    benchmark:
        f"{OUT}/benchmarks/train_fusion/{{source}}.tsv"
    threads: 2
    resources:
        mem_mb=mem_mb_from_input(3, 2000),
        runtime=120,
        gpu=GPU,
    conda:
        ENV
    shell:
        "python -m abgd.train_fusion --embeddings {input.embeddings}"
        " --groundtruth {input.groundtruth} --split {input.split}"
        " --split-summary {input.split_summary} --out-dir $(dirname {output.ckpt})"
        " --seed {params.seed} --dropout {params.dropout} --lr {params.lr}"
        " --batch-size {params.batch_size} --max-epochs {params.max_epochs}"
        " --patience {params.patience} --threads {threads} > {log} 2>&1"


rule predict:
    input:
        model=f"{OUT}/models/{{model_system}}/{{source}}/model.ckpt",
        inputs=predict_inputs,
        groundtruth=predict_groundtruth,
        split=f"{OUT}/splits/{{source}}.tsv",
    output:
        f"{OUT}/scores/{{model_system}}/{{source}}-{{subset}}.parquet",
    params:
        inputs=predict_input_args,
        part=predict_part_args,
    log:
        f"{OUT}/logs/predict/{{model_system}}/{{source}}-{{subset}}.log",
    benchmark:
        f"{OUT}/benchmarks/predict/{{model_system}}/{{source}}-{{subset}}.tsv"
    threads: 2
    resources:
        mem_mb=mem_mb_from_input(1, 2000),
    conda:
        ENV
    shell:
        "python -m abgd.predict --model-dir $(dirname {input.model}) --kind {wildcards.model_system}"
        " {params.inputs} --groundtruth {input.groundtruth} {params.part}"
        " --out {output} > {log} 2>&1"
