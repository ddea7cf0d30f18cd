"""The demo mirror must match the real release in names, layout and schema (spec §1-§3, §5.1)."""

from __future__ import annotations

import bz2
import collections
import hashlib
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abgd import demo, release

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_JSON = sorted((SHARED / "lowlevel_json").glob("*.json")) if SHARED.is_dir() else []
STATS9 = {"mean", "var", "median", "min", "max", "dmean", "dmean2", "dvar", "dvar2"}


@pytest.fixture(scope="module")
def mirrors(tmp_path_factory):
    one = tmp_path_factory.mktemp("one")
    two = tmp_path_factory.mktemp("two")
    world = demo.build_mirror(one, 240, seed=5, workers=1, odd_beats=0.1)
    demo.main(["--out", str(two), "--recordings", "240", "--seed", "5", "--workers", "2",
               "--odd-beats", "0.1"])
    return one, two, world


def _read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in bz2.decompress(path.read_bytes()).decode().splitlines()]


def _members(path: Path) -> list[tarfile.TarInfo]:
    with tarfile.open(path) as tar:
        return tar.getmembers()


def _docs(path: Path) -> dict[str, dict[str, Any]]:
    out = {}
    with tarfile.open(path) as tar:
        for m in tar.getmembers():
            if m.isfile():
                out[m.name] = orjson.loads(tar.extractfile(m).read())
    return out


def _shape(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Flattened key paths with list lengths (nested lengths for matrices)."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.update(_shape(v, f"{prefix}.{k}" if prefix else k))
    elif isinstance(obj, list):
        out[prefix] = (len(obj), len(obj[0]) if obj and isinstance(obj[0], list) else None)
    else:
        out[prefix] = type(obj).__name__ if isinstance(obj, str) else "number"
    return out


# -- determinism and checksums -------------------------------------------------------------------
def test_byte_identical_whatever_the_worker_count(mirrors):
    one, two, _ = mirrors
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in two.iterdir())
    assert names == sorted([*release.release_names(), "MD5SUMS"])
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name


def test_md5sums_match_files(mirrors):
    one, _, _ = mirrors
    lines = (one / "MD5SUMS").read_text().splitlines()
    names = [line.split("  ", 1)[1] for line in lines]
    assert names == sorted(release.release_names())
    for line in lines:
        digest, name = line.split("  ", 1)
        assert digest == hashlib.md5((one / name).read_bytes()).hexdigest()


def test_other_seed_differs(tmp_path):
    demo.build_mirror(tmp_path, 60, seed=6)
    a = (tmp_path / release.groundtruth_name("lastfm", "train")).read_bytes()
    demo.build_mirror(tmp_path / "b", 60, seed=7)
    assert a != (tmp_path / "b" / release.groundtruth_name("lastfm", "train")).read_bytes()


# -- archives --------------------------------------------------------------------------------------
def test_archives_hold_right_prefixes_with_directory_entries(mirrors):
    one, _, world = mirrors
    seen = []
    for arch in release.ARCHIVES:
        members = _members(one / arch.name)
        root = f"acousticbrainz-mediaeval-{arch.split}"
        names = [m.name for m in members]
        assert names[0] == root and members[0].isdir()
        files = [m for m in members if m.isfile()]
        dirs = {m.name for m in members if m.isdir()}
        for m in files:
            mbid = m.name.rsplit("/", 1)[1][:-5]
            assert mbid[0] in arch.digits
            assert m.name == release.member_path(arch.split, mbid)
            assert f"{root}/{mbid[:2]}" in dirs
            assert (m.mtime, m.uid, m.gid, m.uname) == (demo.archives.MTIME, 1000, 1000, "abgd")
            seen.append((arch.split, mbid))
        assert [m.name for m in files] == sorted(m.name for m in files)
    # every recording exactly once, in its release group's split
    assert len(seen) == len(set(seen)) == len(world.mbids)
    split_of = {world.mbids[i]: release.SPLITS[world.split_of_rg[r]]
                for i, r in enumerate(world.rg_of)}
    assert all(split_of[m] == s for s, m in seen)


# -- ground truth TSVs -----------------------------------------------------------------------------
def _check_rows(rows: list[list[str]], header: bool) -> None:
    if header:
        width = len(rows[0]) - 2
        assert rows[0] == ["recordingmbid", "releasegroupmbid",
                           *[f"genre{k}" for k in range(1, width + 1)]]
        rows = rows[1:]
    widths = {len(r) for r in rows}
    assert len(widths) == 1  # padded to the widest row
    if header:
        assert max(len([f for f in r[2:] if f]) for r in rows) == widths.pop() - 2
    for r in rows:
        assert release.is_mbid(r[0]) and release.is_mbid(r[1])
        labels = [f for f in r[2:] if f]
        assert r[2:] == labels + [""] * (len(r) - 2 - len(labels))  # labels first, then padding
        assert labels == sorted(labels) and labels
        for label in labels:
            if "---" in label:
                assert label.split("---", 1)[0] in labels


@pytest.mark.realdata
def test_real_rows_obey_the_same_rules():
    files = sorted((SHARED / "groundtruth").glob("reconstructed_from_mirdata_index.*.tsv"))
    if not files:
        pytest.skip("shared ground-truth excerpts absent")
    for f in files:
        _check_rows([line.split("\t") for line in f.read_text().splitlines()], header=False)


def test_tsv_layout(mirrors):
    one, _, _ = mirrors
    for source in release.SOURCES:
        for split in release.SPLITS:
            rows = _read_tsv(one / release.groundtruth_name(source, split))
            _check_rows(rows, header=True)
            assert len(rows) > 1


def test_tsv_bytes_exact():
    data = demo.tsv_bytes([("b" * 8, "r1", ["rock---punk", "rock"]), ("a" * 8, "r2", ["pop"])])
    assert data == (b"recordingmbid\treleasegroupmbid\tgenre1\tgenre2\n"
                    b"bbbbbbbb\tr1\trock\trock---punk\naaaaaaaa\tr2\tpop\t\n")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.sampled_from(["rock", "folk, world, & country", "children's",
                                          "r&b", "pop/rock", "stage & screen---score"]),
                         min_size=1, max_size=5, unique=True), min_size=1, max_size=8))
def test_tsv_roundtrip(label_lists):
    rows = [(f"{i:08d}", "rg", labels) for i, labels in enumerate(label_lists)]
    lines = demo.tsv_bytes(rows).decode().splitlines()
    parsed = [line.split("\t") for line in lines]
    assert len({len(p) for p in parsed}) == 1
    assert len(parsed[0]) == 2 + max(len(x) for x in label_lists)
    for (_, _, labels), p in zip(rows, parsed[1:], strict=True):
        assert [f for f in p[2:] if f] == sorted(labels)


# -- sources, overlap, partitions ------------------------------------------------------------------
def test_overlap_and_one_partition_per_release_group(mirrors):
    one, _, world = mirrors
    split_of: dict[str, str] = {}
    rg_split: dict[str, str] = {}
    rg_of: dict[str, str] = {}
    per_source: dict[str, set[str]] = {}
    for source in release.SOURCES:
        per_source[source] = set()
        for split in release.SPLITS:
            for r in _read_tsv(one / release.groundtruth_name(source, split))[1:]:
                assert split_of.setdefault(r[0], split) == split
                assert rg_split.setdefault(r[1], split) == split
                assert rg_of.setdefault(r[0], r[1]) == r[1]
                per_source[source].add(r[0])
    union = set.union(*per_source.values())
    assert union == set(world.mbids)
    assert len(set.intersection(*per_source.values())) > 0.1 * len(union)
    assert len(per_source["allmusic"] & per_source["discogs"]) > 0.3 * len(union)
    assert all(len(s) < len(union) for s in per_source.values())


def test_release_level_sources_label_whole_albums(mirrors):
    one, _, _ = mirrors
    for source in ("allmusic", "discogs"):
        by_rg = collections.defaultdict(set)
        for split in release.SPLITS:
            for r in _read_tsv(one / release.groundtruth_name(source, split))[1:]:
                by_rg[r[1]].add(tuple(f for f in r[2:] if f))
        assert all(len(v) == 1 for v in by_rg.values())


def test_default_world_structure():
    world = demo.make_world(4000, seed=0)
    sizes = np.bincount(world.rg_of)
    assert sizes.min() >= 2 and sizes.max() <= 15
    val = world.split_of_rg[world.rg_of].mean()
    assert 0.15 < val < 0.21
    for source, rows in world.labels.items():
        genres = [sum("---" not in x for x in labels) for labels in rows.values()]
        assert 1.1 <= np.mean(genres) <= 1.45, source
        train = collections.Counter(
            x for i, labels in rows.items() if world.split_of_rg[world.rg_of[i]] == 0
            for x in labels)
        assert 8 <= sum("---" not in x for x in train) <= 16
        assert min(train.values()) >= 40, (source, min(train, key=train.get))


# -- documents -------------------------------------------------------------------------------------
def test_slot_count_matches_spec():
    assert demo.N_SLOTS == 2647


def test_document_contents_and_integer_fields():
    rng = np.random.default_rng(0)
    doc = orjson.loads(demo.dumps_document(demo.make_document(rng)))
    assert set(doc) == {"lowlevel", "rhythm", "tonal", "metadata"}
    rhy, ton, low = doc["rhythm"], doc["tonal"], doc["lowlevel"]
    assert len(rhy["beats_position"]) == rhy["beats_count"] > 2
    assert rhy["beats_position"] == sorted(rhy["beats_position"])
    assert ton["thpcp"][0] == 1 and isinstance(ton["thpcp"][0], int)
    assert ton["key_key"] in demo.KEYS and ton["chords_key"] in demo.KEYS
    assert {ton["key_scale"], ton["chords_scale"]} <= {"major", "minor"}
    assert abs(sum(ton["chords_histogram"]) - 100) < 1e-3
    assert isinstance(low["silence_rate_20dB"]["median"], int)
    assert isinstance(ton["hpcp_entropy"]["min"], int)
    for name, block in low.items():
        if isinstance(block, dict) and "var" in block:
            lo, hi = np.asarray(block["min"]), np.asarray(block["max"])
            assert np.all(lo <= np.asarray(block["mean"]) + 1e-6), name
            assert np.all(np.asarray(block["mean"]) <= hi + 1e-6), name
            assert np.all(np.asarray(block["var"]) >= 0), name
    cov = np.array(low["mfcc"]["cov"])
    assert np.allclose(cov, cov.T, rtol=1e-4)
    assert np.allclose(cov @ np.array(low["mfcc"]["icov"]), np.eye(13), atol=2e-2)
    tags = doc["metadata"]["tags"]
    assert isinstance(tags["file_name"], str)
    assert all(isinstance(v, list) and all(isinstance(s, str) for s in v)
               for k, v in tags.items() if k != "file_name")


def test_beat_layout_exceptions():
    rng = np.random.default_rng(1)
    zero = demo.make_document(rng, info=demo.DocInfo("0" * 8, "r", beats=0))["rhythm"]
    assert zero["beats_count"] == 0 and len(zero["beats_position"]) == 0
    assert set(zero["beats_loudness"]) == STATS9 - {"median"}
    assert set(zero["beats_loudness_band_ratio"]) == STATS9 - {"median"}
    assert all(v == [0] * 6 for v in zero["beats_loudness_band_ratio"].values())
    single = demo.make_document(rng, info=demo.DocInfo("0" * 8, "r", beats=1))["rhythm"]
    assert single["beats_count"] == 1 and len(single["beats_position"]) == 1
    assert set(single["beats_loudness"]) == STATS9
    assert set(single["beats_loudness_band_ratio"]) == STATS9 - {"median"}


def test_mirror_contains_beat_exceptions(mirrors):
    one, _, world = mirrors
    docs = {}
    for arch in release.ARCHIVES:
        docs.update(_docs(one / arch.name))
    counts = collections.Counter(d["rhythm"]["beats_count"] for d in docs.values())
    assert counts[0] + counts[1] == int((world.beats < 2).sum()) > 0


@pytest.mark.realdata
def test_schema_matches_real_documents():
    if not REAL_JSON:
        pytest.skip("shared sample JSONs absent")
    rng = np.random.default_rng(2)
    ours = orjson.loads(demo.dumps_document(demo.make_document(rng)))
    mine = {k: v for k, v in _shape({g: ours[g] for g in ("lowlevel", "rhythm", "tonal")}).items()
            if k != "rhythm.beats_position"}
    for path in REAL_JSON:
        real = json.loads(path.read_text())
        theirs = {k: v for k, v in
                  _shape({g: real[g] for g in ("lowlevel", "rhythm", "tonal")}).items()
                  if k != "rhythm.beats_position"}
        assert mine == theirs, path.name
        assert set(ours["metadata"]) == set(real["metadata"])
        assert set(ours["metadata"]["version"]) == set(real["metadata"]["version"])
        props = set(ours["metadata"]["audio_properties"])
        assert set(real["metadata"]["audio_properties"]) <= props
        assert len(ours["rhythm"]["beats_position"]) == ours["rhythm"]["beats_count"]


def test_cli_help():
    with pytest.raises(SystemExit) as exc:
        demo.main(["--help"])
    assert exc.value.code == 0


# -- the default world is what it was before the shaped taxonomy ----------------------------------
# md5 of the 8 decompressed TSVs of make_world(300, seed=5, odd_beats=0.1), computed with the code
# of commit 9d62c9b (before taxonomy="shaped" existed).
DEFAULT_TSV_MD5 = "12d0143aa0280b480b24e38585ccd4d2"


def test_default_taxonomy_labels_unchanged():
    world = demo.make_world(300, seed=5, odd_beats=0.1)
    digest = hashlib.md5()
    for source in release.SOURCES:
        for split in release.SPLITS:
            digest.update(demo.tsv_bytes(demo.groundtruth_rows(world, source, split)))
    assert digest.hexdigest() == DEFAULT_TSV_MD5
    assert world.genre_names == tuple(name for name, _, _ in demo.LATENT)


def _old_latent_vectors(rng, rg_of, rg_genres, rg_styles):
    """The per-album loop of commit 9d62c9b, kept verbatim as the oracle for the demo world."""
    genre_emb = rng.standard_normal((len(demo.LATENT), demo.LATENT_DIM))
    style_emb = {(g, s): demo.STYLE_WEIGHT * rng.standard_normal(demo.LATENT_DIM)
                 for g, (_, _, n) in enumerate(demo.LATENT) for s in range(n)}
    album = np.stack([
        genre_emb[gs].sum(axis=0) + sum((style_emb[st] for st in sts), np.zeros(demo.LATENT_DIM))
        + demo.ALBUM_SD * rng.standard_normal(demo.LATENT_DIM)
        for gs, sts in zip(rg_genres, rg_styles, strict=True)
    ])
    z = album[rg_of] + demo.TRACK_SD * rng.standard_normal((len(rg_of), demo.LATENT_DIM))
    return (z - z.mean(axis=0)) / z.std(axis=0)


def test_default_latent_vectors_bit_identical_to_the_old_loop():
    world = demo.make_world(500, seed=3)
    old = _old_latent_vectors(np.random.default_rng([3, 3]), world.rg_of, world.rg_genres,
                              world.rg_styles)
    assert np.array_equal(world.latent, old)


# -- the shaped taxonomy (real label shape per source, spec §1.5) ----------------------------------
# Spec §1.5 typed out here, independently of demo.shaped.SHAPED_GENRES.
SPEC_GENRES = {
    "allmusic": "avant-garde|blues|children's|classical|comedy/spoken|country|easy listening|"
                "electronic|folk|holiday|international|jazz|latin|new age|pop/rock|r&b|rap|"
                "reggae|religious|stage & screen|vocal",
    "discogs": "blues|brass & military|children's|classical|electronic|folk, world, & country|"
               "funk / soul|hip hop|jazz|latin|non-music|pop|reggae|rock|stage & screen",
    "lastfm": "blues|brazilian|chillout|christian|christmas/holiday|classical|country|dance|"
              "electronic|experimental|folk|gospel|gothic|hiphop|instrumental|jazz|jpop/jrock|"
              "latin|metal|neofolk|newage|oldie|pop|posthardcore|postrock|reggae|rock|soul|"
              "soundtrack|world",
    "tagtraum": "anime|blues|celtic|childrens|christmas/holiday|classical|comedy|country|dance|"
                "drumnbass|dubstep|easylistening|electronic|folk|funk|game|gospel|hiphop|"
                "industrial|jazz|latin|newage|reggae|reggaeton|rnb|rock/pop|soundtrack|spoken|"
                "techno|trance|world",
}
# genres, subgenres, genres / track, subgenres / track (spec §1.5 table)
SPEC_SHAPE = {"allmusic": (21, 745, 1.33, 3.15), "discogs": (15, 300, 1.37, 1.69),
              "lastfm": (30, 297, 1.14, 1.28), "tagtraum": (31, 265, 1.13, 1.72)}


@pytest.fixture(scope="module")
def shaped():
    return demo.make_world(3000, seed=11, taxonomy="shaped")


def _train_rows(world, source):
    return [labels for i, labels in world.labels[source].items()
            if world.split_of_rg[world.rg_of[i]] == 0]


def test_shaped_vocabularies_have_the_real_sizes_and_genre_names(shaped):
    model = demo.shaped_model()
    for source, (n_genres, n_sub, _, _) in SPEC_SHAPE.items():
        spec = set(SPEC_GENRES[source].split("|"))
        assert len(spec) == n_genres
        vocab = model.sources[source].labels
        assert len(set(vocab)) == len(vocab) == n_genres + n_sub  # 766 / 315 / 327 / 296
        assert {x for x in vocab if "---" not in x} == spec
        seen = {x for labels in shaped.labels[source].values() for x in labels}
        assert seen <= set(vocab)
        assert len(spec - seen) <= 0.2 * n_genres, source  # rare genres may miss at 3000


def test_shaped_labels_are_well_formed(shaped):
    for source in release.SOURCES:
        vocab = demo.shaped_model().sources[source].labels
        for label in vocab:
            assert label.count("---") <= 1 and "\t" not in label and "\n" not in label
            assert label == label.strip() and label
        if source in ("lastfm", "tagtraum"):
            assert not any(" " in x for x in vocab)
        else:
            assert sum(" " in x for x in vocab) > 0.5 * len(vocab)  # spec: 510 / 766 have spaces
        for labels in shaped.labels[source].values():
            assert labels == sorted(set(labels)) and labels
            for label in labels:
                if "---" in label:
                    assert label.split("---", 1)[0] in labels


# Tolerance: release-level labels are drawn per album, so at 3000 recordings AllMusic's train
# set holds only ~400 independent albums; the per-album subgenre count has sd ~2, i.e. a
# standard error of ~3 % of 3.15, plus ~2 % for the expectation formulas the model is calibrated
# with. 15 % (the rehearsal's own acceptance band) is > 3 standard errors and still catches a
# broken calibration (e.g. no subgenre thinning puts Discogs near 3 subgenres / track).
def test_shaped_labels_per_track_match_spec(shaped):
    for source, (_, _, genres_per_track, sub_per_track) in SPEC_SHAPE.items():
        rows = _train_rows(shaped, source)
        genres = np.mean([sum("---" not in x for x in labels) for labels in rows])
        subs = np.mean([sum("---" in x for x in labels) for labels in rows])
        assert genres == pytest.approx(genres_per_track, rel=0.15), source
        assert subs == pytest.approx(sub_per_track, rel=0.15), source


def test_shaped_label_counts_have_a_long_tail(shaped):
    for source in release.SOURCES:
        counts = collections.Counter(x for labels in _train_rows(shaped, source) for x in labels
                                     if "---" in x)
        assert max(counts.values()) >= 50 * min(counts.values()), source
    allmusic = {x for labels in _train_rows(shaped, "allmusic") for x in labels}
    assert len(allmusic) > 300  # the demo world has ~30


def test_shaped_release_level_sources_label_whole_albums(shaped):
    for source in ("allmusic", "discogs"):
        by_rg = collections.defaultdict(set)
        for i, labels in shaped.labels[source].items():
            by_rg[int(shaped.rg_of[i])].add(tuple(labels))
        assert all(len(v) == 1 for v in by_rg.values())


def test_shaped_world_is_deterministic(shaped):
    again = demo.make_world(3000, seed=11, taxonomy="shaped")
    assert again.labels == shaped.labels
    assert again.rg_styles == shaped.rg_styles
    assert np.array_equal(again.latent, shaped.latent)
    other = demo.make_world(3000, seed=12, taxonomy="shaped")
    assert other.labels["lastfm"] != shaped.labels["lastfm"]


def test_shaped_latent_vectors_carry_the_styles(shaped):
    """Albums with a style differ from same-genre albums without it (per-dimension z, summed).

    Under no style signal each sum is chi-square with 24 degrees of freedom (99th percentile
    43): about one in a hundred would pass, not half of them.
    """
    n_rg = len(shaped.rg_genres)
    album = np.zeros((n_rg, demo.LATENT_DIM))
    np.add.at(album, shaped.rg_of, shaped.latent)
    album /= np.bincount(shaped.rg_of)[:, None]
    first = np.array([genres[0] for genres in shaped.rg_genres])
    passed = 0
    for g, k in [(0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (2, 0), (2, 1), (3, 0)]:
        has = np.array([(g, k) in styles for styles in shaped.rg_styles])
        a, b = album[(first == g) & has], album[(first == g) & ~has]
        z = (a.mean(0) - b.mean(0)) / np.sqrt(a.var(0, ddof=1) / len(a)
                                              + b.var(0, ddof=1) / len(b))
        passed += float((z**2).sum()) > 43.0
    assert passed >= 4


def test_shaped_genre_tags_use_the_shaped_names(shaped, tmp_path):
    jobs = demo.archives._archive_jobs(shaped, tmp_path, seed=11)
    tags = {info.genre_tag for job in jobs for info in job.infos} - {None}
    names = {row[0] for row in demo.shaped.SHAPED_GENRES}
    assert tags <= names
    assert tags - {name for name, _, _ in demo.LATENT}  # beyond the 12 demo genres


def test_taxonomy_option():
    parse_args = demo.build_parser().parse_args
    assert parse_args(["--out", "x"]).taxonomy == "demo"
    assert parse_args(["--out", "x", "--taxonomy", "shaped"]).taxonomy == "shaped"
    with pytest.raises(SystemExit):
        parse_args(["--out", "x", "--taxonomy", "real"])
    with pytest.raises(ValueError, match="taxonomy"):
        demo.make_world(100, seed=0, taxonomy="real")


def test_shaped_mirror_files(tmp_path):
    demo.main(["--out", str(tmp_path), "--recordings", "120", "--seed", "4",
               "--taxonomy", "shaped"])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*release.release_names(),
                                                                 "MD5SUMS"])
    for source in release.SOURCES:
        rows = _read_tsv(tmp_path / release.groundtruth_name(source, "train"))
        _check_rows(rows, header=True)


def test_rehearsal_config_is_valid_and_shaped():
    import jsonschema
    import yaml

    root = Path(__file__).resolve().parents[1]
    schema = yaml.safe_load((root / "workflow" / "schemas" / "config.schema.yaml").read_text())
    config = yaml.safe_load((root / "config" / "rehearsal.yaml").read_text())
    jsonschema.Draft202012Validator(schema).validate(config)
    assert config["demo"] == {"generate": True, "recordings": 150000, "seed": 2019,
                              "taxonomy": "shaped", "workers": 2}
    mirror = f"file:resources/mirror/{config['dataset']}/{{name}}"
    assert config["download"]["url_template"] == mirror
