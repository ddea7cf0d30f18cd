# Helpers shared by every stage (config validation, names and paths, resources).
import re

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate


def _coerce(value, schema):
    """Snakemake's --config hands nested values over as strings ("0.3"); read them as typed."""
    kinds = schema.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else kinds
    if isinstance(value, dict):
        for key, item in value.items():
            sub = schema.get("properties", {}).get(key)
            if sub is None and isinstance(schema.get("additionalProperties"), dict):
                sub = schema["additionalProperties"]
            if sub is not None:
                value[key] = _coerce(item, sub)
        return value
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [_coerce(item, schema["items"]) for item in value]
    if isinstance(value, str):
        if "integer" in kinds and re.fullmatch(r"[+-]?\d+", value):
            return int(value)
        if "number" in kinds and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", value):
            return float(value)
        if "boolean" in kinds and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        if "null" in kinds and value.lower() in {"null", "none", "~"}:
            return None
    return value


def _check_config(config, schema_path):
    """Name every bad key in one short message before Snakemake's own (verbose) validation."""
    import jsonschema
    import yaml

    with open(schema_path) as handle:
        schema = yaml.safe_load(handle)
    _coerce(config, schema)
    problems = [
        f"  config key '{'.'.join(str(p) for p in error.absolute_path) or '<top>'}': {error.message}"
        for error in jsonschema.Draft202012Validator(schema).iter_errors(config)
    ]
    if problems:
        raise WorkflowError("invalid configuration:\n" + "\n".join(sorted(problems)))


_check_config(config, f"{workflow.basedir}/workflow/schemas/config.schema.yaml")
validate(config, "../schemas/config.schema.yaml")

DATASET = config["dataset"]
RES = f"resources/{DATASET}"
OUT = f"results/{DATASET}"
MIRROR = f"resources/mirror/{DATASET}"
SOURCES = list(config["sources"])
SPLITS = ["train", "validation"]
# Fusion stacks the embeddings of every configured source, always in this order.
EMBEDDING_SOURCES = SOURCES
MODEL_SYSTEMS = ["single", "fusion"]
BASELINES = ["random", "popularity"]
EVAL_SPLIT = config["evaluation"]["split"]
DECODINGS = config["evaluation"]["decodings"]
ENV = "../../envs/abgd.yaml"
GPU = 1 if config["gpu"] else 0

_ARCHIVE_RE = re.compile(r"^acousticbrainz-mediaeval-features-+(train|validation)-([0-9a-f]+)\.tar\.bz2$")


def archive_key(name):
    """`acousticbrainz-mediaeval-features--train-01.tar.bz2` -> `train-01` (the part's name)."""
    match = _ARCHIVE_RE.match(name)
    return f"{match.group(1)}-{match.group(2)}"


def _archives():
    table = {}
    for split, names in config["features"]["archives"].items():
        for name in names:
            key = archive_key(name)
            if not key.startswith(f"{split}-"):
                raise ValueError(
                    f"config features.archives.{split}: {name} is not a {split} archive"
                )
            table[key] = name
    return table


ARCHIVES = _archives()
PARTS = {split: [key for key in ARCHIVES if key.startswith(f"{split}-")] for split in SPLITS}


def groundtruth_name(source, split):
    return f"acousticbrainz-mediaeval-{source}-{split}.tsv.bz2"


RELEASE_FILES = sorted(
    [groundtruth_name(source, split) for source in SOURCES for split in SPLITS]
    + list(ARCHIVES.values())
)
MD5SUMS = config["download"]["md5sums"]
DOWNLOADABLE = RELEASE_FILES + ([MD5SUMS] if MD5SUMS else [])


# ---------------------------------------------------------------- download

def file_url(wildcards):
    urls = config["download"]["urls"]
    return urls.get(wildcards.name, config["download"]["url_template"].format(name=wildcards.name))


def md5_args(wildcards):
    """The checksum a download is verified against: explicit md5, else the published MD5SUMS."""
    known = config["download"]["md5"]
    if wildcards.name in known:
        return f"--md5 {known[wildcards.name]}"
    if MD5SUMS and wildcards.name != MD5SUMS:
        return f"--md5sums {RES}/{MD5SUMS}"
    return ""


def download_inputs(wildcards):
    inputs = []
    if config["demo"]["generate"]:
        # A generated mirror must exist before it can be fetched from; nothing else differs.
        inputs.append(f"{MIRROR}/MD5SUMS")
    if MD5SUMS and wildcards.name != MD5SUMS and wildcards.name not in config["download"]["md5"]:
        inputs.append(f"{RES}/{MD5SUMS}")
    return inputs


# ---------------------------------------------------------------- features

def archive_path(wildcards):
    return f"{RES}/{ARCHIVES[wildcards.part]}"


def feature_parts(split):
    return [f"{OUT}/features/{split}/{part}.parquet" for part in PARTS[split]]


def parts_of_split(wildcards):
    return feature_parts(wildcards.split)


def errors_of_split(wildcards):
    return [f"{OUT}/features/{wildcards.split}/{part}.errors.tsv" for part in PARTS[wildcards.split]]


def groundtruth_tsv(split):
    def path(wildcards):
        return f"{RES}/{groundtruth_name(wildcards.source, split)}"

    return path


def all_feature_parts(wildcards=None):
    return feature_parts("train") + feature_parts("validation")


def feature_manifests(wildcards=None):
    return [f"{OUT}/features/{split}.manifest.json" for split in SPLITS]


def split_features(wildcards):
    return feature_manifests()


# ---------------------------------------------------------------- models and systems

def model_files(system, source):
    folder = f"{OUT}/models/{system}/{source}"
    return {
        "ckpt": f"{folder}/model.ckpt",
        "labels": f"{folder}/labels.json",
        "epochs": f"{folder}/epochs.csv",
        "metrics": f"{folder}/metrics.json",
    }


def embeddings(wildcards=None):
    return [f"{OUT}/embeddings/{source}.parquet" for source in EMBEDDING_SOURCES]


def all_groundtruth(wildcards=None):
    return [f"{OUT}/groundtruth/{source}-{split}.parquet" for source in SOURCES for split in SPLITS]


def model_system(system):
    return system.removesuffix("-global")


def decoding_of(system):
    return "global" if system.endswith("-global") else "per_label"


def reported_systems():
    systems = list(BASELINES)
    for system in MODEL_SYSTEMS:
        for decoding in DECODINGS:
            systems.append(system if decoding == "per_label" else f"{system}-global")
    return systems


def run_file(system, source, split):
    return f"{OUT}/runs/{system}/{source}-{split}.tsv"


def evaluation_file(system, source, split):
    return f"{OUT}/evaluation/{system}/{source}-{split}.json"


def all_evaluations(wildcards=None):
    return [
        evaluation_file(system, source, EVAL_SPLIT)
        for system in reported_systems()
        for source in SOURCES
    ]


def scores_for_evaluation(wildcards):
    if wildcards.system in BASELINES:
        return []
    return [f"{OUT}/scores/{model_system(wildcards.system)}/{wildcards.source}-{wildcards.split}.parquet"]


def scores_arg(wildcards, input):
    return f"--scores {input.scores}" if input.scores else ""


# ---------------------------------------------------------------- resources

def mem_mb_from_input(factor, floor_mb):
    """Memory that grows with the job's inputs: the demo asks for little, the release for enough."""

    def mem_mb(wildcards, input, attempt):
        return int(max(floor_mb, factor * input.size_mb) * (1 + 0.5 * (attempt - 1)))

    return mem_mb


# ---------------------------------------------------------------- targets

def study_targets():
    return [
        f"{OUT}/stats/stats.md",
        f"{OUT}/evaluation/summary.json",
        f"{OUT}/evaluation/summary.csv",
        f"{OUT}/evaluation/tables.md",
        f"{OUT}/figures/training_curves.png",
        f"{OUT}/abgd-{DATASET}-{GIT_SHA}.tar.gz",
    ]


def split_from_file(wildcards):
    """With `split.source: file`, the authors' published MBID lists replace the random split."""
    if config["split"]["source"] != "file":
        return ""
    files = config["split"]["files"][wildcards.source]
    return f"--from-file {files['fit']} {files['holdout']}"


def predict_inputs(wildcards):
    if wildcards.model_system == "single":
        return feature_manifests()
    return embeddings()


def predict_input_args(wildcards, input):
    flag = "--features" if wildcards.model_system == "single" else "--embeddings"
    return f"{flag} {input.inputs}"


def predict_groundtruth(wildcards):
    split = "train" if wildcards.subset == "holdout" else wildcards.subset
    return f"{OUT}/groundtruth/{wildcards.source}-{split}.parquet"


def predict_part_args(wildcards, input):
    return f"--split {input.split} --part holdout" if wildcards.subset == "holdout" else ""


def decode_scores(wildcards):
    return f"{OUT}/scores/{model_system(wildcards.system)}/{wildcards.source}-{wildcards.split}.parquet"


def decode_thresholds(wildcards):
    return f"{OUT}/thresholds/{model_system(wildcards.system)}/{wildcards.source}.json"


def decode_decoding(wildcards):
    return decoding_of(wildcards.system)


def _git(*args):
    import subprocess

    try:
        return subprocess.run(
            ["git", *args], capture_output=True, text=True, check=True, cwd=workflow.basedir
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "nogit"


GIT_COMMIT = _git("rev-parse", "HEAD")
GIT_SHA = _git("rev-parse", "--short", "HEAD")


def all_run_files(wildcards=None):
    return [run_file(system, source, EVAL_SPLIT) for system in reported_systems() for source in SOURCES]


def all_thresholds(wildcards=None):
    return [f"{OUT}/thresholds/{system}/{source}.json" for system in MODEL_SYSTEMS for source in SOURCES]


def config_json(wildcards=None):
    """The resolved configuration as canonical JSON: a plain string, so params tracking sees it."""
    import json

    return json.dumps(config, sort_keys=True)

