"""Impl folders are discovered by manifest; a broken folder is named with what it lacks."""
from pathlib import Path

import pytest
import yaml

from ganbench.impls import ContractError, discover_impls

REPO = Path(__file__).resolve().parents[1]


def make_impl(root: Path, folder_name: str, **manifest):
    folder = root / folder_name
    folder.mkdir(parents=True)
    fields = {"name": folder_name, "framework": "numpy", "entry": "train.py", "models": ["basic"]}
    fields.update(manifest)
    fields = {k: v for k, v in fields.items() if v is not None}
    (folder / "manifest.yaml").write_text(yaml.safe_dump(fields))
    (folder / "train.py").write_text("")
    return folder


def test_shipped_impls_are_discovered():
    impls = discover_impls(REPO / "impls")
    assert {"pytorch", "tensorflow"} <= set(impls)
    for impl in impls.values():
        assert impl.entry.is_file()
        assert set(impl.models) <= {"basic", "dcgan"}


def test_discovery_skips_hidden_and_cache_folders(tmp_path):
    make_impl(tmp_path, "mine", models=["basic", "dcgan"])
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / ".hidden").mkdir()
    (tmp_path / "README.md").write_text("docs")
    impls = discover_impls(tmp_path)
    assert list(impls) == ["mine"]
    assert impls["mine"].models == ("basic", "dcgan")
    assert impls["mine"].entry == (tmp_path / "mine" / "train.py").resolve()


@pytest.mark.parametrize(
    "manifest,expected",
    [
        ({"framework": None}, "impls/broken: manifest.yaml lacks key(s) framework"),
        ({"entry": "run.py"}, "impls/broken: entry point 'run.py' named in manifest.yaml does not exist"),
        ({"name": "other"}, "impls/broken: manifest name 'other' differs from the folder name 'broken'"),
        ({"models": ["resnet"]}, "impls/broken: unknown model(s) ['resnet']"),
        ({"models": []}, "impls/broken: 'models' must be a non-empty list"),
    ],
)
def test_broken_manifest_names_folder_and_problem(tmp_path, manifest, expected):
    make_impl(tmp_path, "good")
    make_impl(tmp_path, "broken", **manifest)
    with pytest.raises(ContractError) as err:
        discover_impls(tmp_path)
    assert expected in str(err.value)
    assert "impls/README.md" in str(err.value)


def test_folder_without_manifest_is_skipped_with_a_note(tmp_path):
    make_impl(tmp_path, "mine")
    (tmp_path / "half_done").mkdir()
    (tmp_path / "half_done" / "train.py").write_text("")
    (tmp_path / "notes").mkdir()
    notes = []
    assert list(discover_impls(tmp_path, notes=notes)) == ["mine"]
    assert notes == [f"{tmp_path / 'half_done'}: no manifest.yaml, skipped (not an impl folder; "
                     "add a manifest.yaml to make it one, impls/README.md)",
                     f"{tmp_path / 'notes'}: no manifest.yaml, skipped (not an impl folder; "
                     "add a manifest.yaml to make it one, impls/README.md)"]
    assert list(discover_impls(tmp_path)) == ["mine"]  # no list given: skipped silently


def test_missing_impls_folder_is_named(tmp_path):
    with pytest.raises(ContractError) as err:
        discover_impls(tmp_path / "nope")
    msg = str(err.value)
    assert f"{tmp_path / 'nope'}: the folder of impl folders does not exist" in msg
    assert "config key impls_dir" in msg and "default: impls" in msg
    (tmp_path / "file").write_text("")
    with pytest.raises(ContractError, match="is not a folder"):
        discover_impls(tmp_path / "file")


def test_invalid_yaml(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "manifest.yaml").write_text("name: [unclosed")
    with pytest.raises(ContractError, match="impls/bad: manifest.yaml is not valid YAML"):
        discover_impls(tmp_path)


def test_an_engine_lacking_a_contract_member_is_named_at_discovery(tmp_path):
    """The manifest's engine class is read from its source (no framework import) against
    runkit.engine_contract.Engine: a removed member, an attribute never set, a missing class or
    module are each named with the folder."""
    from ganbench.runkit import engine_contract

    source = (REPO / "impls" / "pytorch" / "engine.py").read_text()
    for folder, edit, expected in (
        ("no_fetch", lambda s: s.replace("def fetch(", "def fetch_renamed("), "lacks fetch of the engine contract"),
        ("no_device", lambda s: s.replace("self.device = ", "self.where = "), "lacks device of the engine contract"),
        ("two_gone", lambda s: s.replace("def synchronize(", "def sync(").replace("def generate(", "def gen("),
         "lacks generate, synchronize of"),
    ):
        impl = make_impl(tmp_path / folder, folder, engine="engine:Engine")
        (impl / "engine.py").write_text(edit(source))
        # its base class (the losses) lives in a module beside it: read from there too
        (impl / "losses.py").write_text((REPO / "impls" / "pytorch" / "losses.py").read_text())
        with pytest.raises(ContractError, match=f"impls/{folder}: engine.py class Engine: the engine {expected}"):
            discover_impls(tmp_path / folder)
    impl = make_impl(tmp_path / "whole", "whole", engine="engine:Engine")
    (impl / "engine.py").write_text(source)
    assert discover_impls(tmp_path / "whole")["whole"].engine == "engine:Engine"
    for ref, expected in (("engine:Motor", "defines no class 'Motor'"), ("motor:Engine", "motor.py named by"),
                          ("engine", "is not 'module:Class'")):
        (tmp_path / "whole" / "whole" / "manifest.yaml").write_text(yaml.safe_dump(
            {"name": "whole", "framework": "numpy", "entry": "train.py", "models": ["basic"], "engine": ref}))
        with pytest.raises(ContractError, match=expected):
            discover_impls(tmp_path / "whole")
    # the shipped engines have every member, the twin tests' ones too
    for fw in ("pytorch", "tensorflow", "jax"):
        assert discover_impls(REPO / "impls")[fw].engine == "engine:Engine"
        assert not engine_contract.static_missing(REPO / "impls" / fw / "engine.py", "Engine",
                                                  engine_contract.members(engine_contract.TwinEngine))
    for fw in ("pytorch", "jax"):  # and their seed-group engines theirs
        assert discover_impls(REPO / "impls")[fw].seed_group == "seed_group:SeedGroupEngine"
        assert not engine_contract.static_missing(REPO / "impls" / fw / "seed_group.py", "SeedGroupEngine",
                                                  engine_contract.GROUP_REQUIRED)


def test_a_seed_group_engine_lacking_a_member_is_named_at_discovery(tmp_path):
    impl = make_impl(tmp_path / "grp", "grp", engine="engine:Engine")
    for name in ("engine.py", "losses.py"):
        (impl / name).write_text((REPO / "impls" / "pytorch" / name).read_text())
    source = (REPO / "impls" / "pytorch" / "seed_group.py").read_text()
    (impl / "seed_group.py").write_text(source.replace("def export_state(", "def export(")
                                        .replace("self.seeds = ", "self.n = ").replace("self.spec, self.seeds = ",
                                                                                        "self.spec, self.n = "))
    manifest = yaml.safe_load((impl / "manifest.yaml").read_text())
    (impl / "manifest.yaml").write_text(yaml.safe_dump({**manifest, "seed_group": "seed_group:SeedGroupEngine"}))
    with pytest.raises(ContractError, match="seed_group.py class SeedGroupEngine: the engine lacks seeds, export_state"):
        discover_impls(tmp_path / "grp")
    (impl / "seed_group.py").write_text(source)
    assert discover_impls(tmp_path / "grp")["grp"].seed_group == "seed_group:SeedGroupEngine"


def test_a_built_engine_lacking_a_member_stops_the_run_with_its_name():
    from ganbench.runkit import engine_contract

    class Partial:
        framework = framework_version = device = "x"

        def load_state(self, state): ...

    with pytest.raises(TypeError, match="Partial: the engine lacks export_state, set_data, train_chunk"):
        engine_contract.check_engine(Partial())
    with pytest.raises(TypeError, match="lacks export_state"):
        engine_contract.check_engine_class(Partial)
