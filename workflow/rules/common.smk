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
DOWNLOADABLE = [*RELEASE_FILES, *([MD5SUMS] if MD5SUMS else [])]


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
    return [*feature_parts("train"), *feature_parts("validation")]


def feature_manifests(wildcards=None):
    return [f"{OUT}/features/{split}.manifest.json" for split in SPLITS]


def split_features(wildcards):
    return feature_manifests()


# ---------------------------------------------------------------- systems and seeds
#
# A reported system is named <base>[-global][-consistent][-seed<N>]:
#   base        single | fusion | lgbm_single | lgbm_fusion (trained) or random | popularity
#   -global     one global threshold instead of per-label thresholds (the paper's decoding)
#   -consistent hierarchy-consistent decoding (no subgenre without its parent)
#   -seed<N>    every seed after the first of `seeds:`; the first seed keeps the plain name, so a
#               one-seed study has the paths of docs/data-contracts.md.
# A trained run (models, embeddings, scores, thresholds) is named <base>[-seed<N>].

SEEDS = list(config["seeds"])
TRAINED = ["single", "fusion", *config["lgbm"]["systems"]]
HIERARCHIES = config["evaluation"]["hierarchy"]
SYSTEM_RE = re.compile(
    r"^(?P<base>single|fusion|lgbm_single|lgbm_fusion|random|popularity)"
    r"(?P<glob>-global)?(?P<consistent>-consistent)?(?:-seed(?P<seed>\d+))?$"
)


def seed_suffix(seed):
    return "" if int(seed) == SEEDS[0] else f"-seed{seed}"


def parse_system(name):
    match = SYSTEM_RE.match(name)
    if match is None:
        raise ValueError(f"not a system name: {name}")
    seed = int(match.group("seed")) if match.group("seed") else SEEDS[0]
    return {
        "base": match.group("base"),
        "decoding": "global" if match.group("glob") else "per_label",
        "hierarchy": "consistent" if match.group("consistent") else "none",
        "seed": seed,
        "trained": f"{match.group('base')}{seed_suffix(seed)}",
        "reported": name.split("-seed")[0],
    }


def seed_of(run):
    return parse_system(run)["seed"]


def model_files(run, source):
    folder = f"{OUT}/models/{run}/{source}"
    return {
        "ckpt": f"{folder}/model.ckpt",
        "labels": f"{folder}/labels.json",
        "epochs": f"{folder}/epochs.csv",
        "metrics": f"{folder}/metrics.json",
    }


def embeddings_for_seed(seed):
    folder = f"{OUT}/embeddings" if int(seed) == SEEDS[0] else f"{OUT}/embeddings/seed{seed}"
    return [f"{folder}/{source}.parquet" for source in EMBEDDING_SOURCES]


def embeddings(wildcards=None):
    return embeddings_for_seed(SEEDS[0])


def run_embeddings(wildcards):
    """The embeddings a fusion run of this seed stacks (made by single-source models of the seed)."""
    return embeddings_for_seed(seed_of(wildcards.run))


def single_model_for_embedding(wildcards):
    seed = int(getattr(wildcards, "seed", SEEDS[0]))
    return model_files(f"single{seed_suffix(seed)}", wildcards.model_source)["ckpt"]


def all_groundtruth(wildcards=None):
    return [f"{OUT}/groundtruth/{source}-{split}.parquet" for source in SOURCES for split in SPLITS]


def reported_systems():
    systems = []
    for seed in SEEDS:
        suffix = seed_suffix(seed)
        systems.append(f"random{suffix}")
        if not suffix:
            systems.append("popularity")  # deterministic: one run is enough
        for base in TRAINED:
            for decoding in DECODINGS:
                for hierarchy in HIERARCHIES:
                    glob = "-global" if decoding == "global" else ""
                    consistent = "-consistent" if hierarchy == "consistent" else ""
                    systems.append(f"{base}{glob}{consistent}{suffix}")
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


def all_run_files(wildcards=None):
    return [
        run_file(system, source, EVAL_SPLIT) for system in reported_systems() for source in SOURCES
    ]


def all_thresholds(wildcards=None):
    return [
        f"{OUT}/thresholds/{base}{seed_suffix(seed)}/{source}.json"
        for base in TRAINED
        for seed in SEEDS
        for source in SOURCES
    ]


# ---------------------------------------------------------------- step arguments

def predict_inputs(wildcards):
    if parse_system(wildcards.run)["base"] == "single":
        return feature_manifests()
    return run_embeddings(wildcards)


def predict_input_args(wildcards, input):
    flag = "--features" if parse_system(wildcards.run)["base"] == "single" else "--embeddings"
    return f"{flag} {input.inputs}"


def predict_kind(wildcards):
    return parse_system(wildcards.run)["base"]


def predict_groundtruth(wildcards):
    split = "train" if wildcards.subset == "holdout" else wildcards.subset
    return f"{OUT}/groundtruth/{wildcards.source}-{split}.parquet"


def predict_part_args(wildcards, input):
    return f"--split {input.split} --part holdout" if wildcards.subset == "holdout" else ""


def run_seed(wildcards):
    return seed_of(wildcards.run)


def decode_scores(wildcards):
    trained = parse_system(wildcards.system)["trained"]
    return f"{OUT}/scores/{trained}/{wildcards.source}-{wildcards.split}.parquet"


def decode_thresholds(wildcards):
    return f"{OUT}/thresholds/{parse_system(wildcards.system)['trained']}/{wildcards.source}.json"


def decode_decoding(wildcards):
    return parse_system(wildcards.system)["decoding"]


def decode_hierarchy(wildcards):
    return parse_system(wildcards.system)["hierarchy"]


def baseline_kind(wildcards):
    return parse_system(wildcards.system)["base"]


def baseline_seed(wildcards):
    return parse_system(wildcards.system)["seed"]


def scores_for_evaluation(wildcards):
    system = parse_system(wildcards.system)
    if system["base"] in BASELINES:
        return []
    return [f"{OUT}/scores/{system['trained']}/{wildcards.source}-{wildcards.split}.parquet"]


def scores_arg(wildcards, input):
    return f"--scores {input.scores}" if input.scores else ""


def evaluation_args(wildcards):
    """The evaluation names the variant; with several seeds the summary averages over them."""
    system = parse_system(wildcards.system)
    args = f"--system {system['reported']} --hierarchy {system['hierarchy']}"
    if len(SEEDS) > 1 and system["base"] != "popularity":  # popularity runs once
        args += f" --seed {system['seed']}"
    bootstrap = config["evaluation"]["bootstrap"]
    if bootstrap and system["base"] not in BASELINES:
        args += f" --bootstrap {bootstrap} --bootstrap-seed {system['seed']}"
    return args


def lgbm_chunks_of_subset(wildcards):
    return [
        f"{OUT}/scores/{wildcards.run}/chunks/{wildcards.source}-{chunk}-{wildcards.subset}.parquet"
        for chunk in range(config["lgbm"]["chunks"])
    ]


def lgbm_inputs(wildcards):
    if parse_system(wildcards.run)["base"] == "lgbm_single":
        return feature_manifests()
    return run_embeddings(wildcards)


def lgbm_input_args(wildcards, input):
    base = parse_system(wildcards.run)["base"]
    flag = "--features" if base == "lgbm_single" else "--embeddings"
    return f"--kind {base.removeprefix('lgbm_')} {flag} {input.inputs}"


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


def split_assignment(wildcards=None):
    """With `split.scope: global` (and a random split), the one release-group table of all sources."""
    if config["split"]["source"] == "file" or config["split"]["scope"] != "global":
        return []
    return f"{OUT}/splits/release_groups.tsv"


def split_assignment_arg(wildcards, input):
    return f"--assignment {input.assignment}" if input.assignment else ""


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


def config_json(wildcards=None):
    """The resolved configuration as canonical JSON: a plain string, so params tracking sees it."""
    import json

    return json.dumps(config, sort_keys=True)

